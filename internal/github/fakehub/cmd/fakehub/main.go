// Command fakehub serves internal/github/fakehub on a loopback address, for make e2e.
//
//	go run ./internal/github/fakehub/cmd/fakehub -repo acme/models -addr-file FILE
//
// It writes its base URL to -addr-file once it listens, and serves until killed. Tokens:
// e2e-write (github-actions[bot], may write), e2e-read (read-only, as a fork's token),
// e2e-user (a personal token of the user "octocat").
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/perflab/perflab/internal/github/fakehub"
)

func main() {
	repo := flag.String("repo", "acme/models", "the repository served, owner/name")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	addrFile := flag.String("addr-file", "", "write the base URL here once listening")
	flag.Parse()
	owner, name, ok := strings.Cut(*repo, "/")
	host, _, err := net.SplitHostPort(*addr)
	if !ok || err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "fakehub: -repo must be owner/name and -addr a loopback host:port")
		os.Exit(2)
	}
	hub := fakehub.New(owner, name, map[string]fakehub.Token{
		"e2e-write": {Login: "github-actions[bot]", Type: "Bot", Write: true, App: true},
		"e2e-read":  {Login: "github-actions[bot]", Type: "Bot", App: true},
		"e2e-user":  {Login: "octocat", Type: "User", Write: true},
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakehub:", err)
		os.Exit(1)
	}
	url := "http://" + ln.Addr().String()
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(url+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fakehub:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintln(os.Stderr, "fakehub: serving", *repo, "at", url)
	if err := http.Serve(ln, hub); err != nil {
		fmt.Fprintln(os.Stderr, "fakehub:", err)
		os.Exit(1)
	}
}
