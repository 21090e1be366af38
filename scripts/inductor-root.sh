#!/usr/bin/env bash
# Adds to a lean image root what compiling torch.export programs with AOTInductor really
# uses (the Dockerfile's inductor-root stage; docs/image.md, "Inductor"):
#   bash scripts/inductor-root.sh ROOT TRACE...
# TRACE: `strace -f -e trace=execve,open,openat` logs of real compiles on this system
# (perflab bench --compile inductor of a torch.export program: perflab -> python3 -> g++ ->
# cc1plus, as, collect2, ld). What is taken:
#   - object code (ELF executables and libraries, static archives, crt*.o) only as the trace
#     executed or opened it, with every symbolic link on the way (the lean root's rule);
#   - any other file it opened (a Python module, a header, a spec file) brings the rest of
#     its Debian package but object code: python3-torch, sympy, numpy, the stdlib,
#     libtorch-dev's and libc/libstdc++'s headers, ..., so that a model whose compile imports
#     another module or includes another header than the traced one finds it. Python
#     extension modules (.so under /usr/lib/python3*) are modules: they come with their
#     package. Left out: packages' documentation (/usr/share/{doc,man,info,locale,...}),
#     Python packages' tests folders unless opened, and packages reached only through
#     metadata (*.dist-info, *.egg-info: importlib.metadata reads every package's entry
#     points) or /etc and /usr/share/zoneinfo files, which are taken alone.
#   - Python's compiled modules (__pycache__) of the taken .py files (no compile on every
#     container start).
# Then ld.so.cache is made again for ROOT. It fails when a trace holds no compile (no
# cc1plus executed) or a file outside /etc belongs to no package. Needs python3 and dpkg.
set -euo pipefail
root=$1; shift
(($#)) || { echo "inductor-root: usage: inductor-root.sh ROOT TRACE..." >&2; exit 2; }
grep -q 'execve("[^"]*/cc1plus"' "$@" || { echo "inductor-root: no cc1plus executed in $* (not a trace of a compile)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Successful execve/open/openat of regular files in the system's folders.
grep -hE '(execve|open|openat)\(' "$@" | grep -v ' = -1 ' | grep -oE '"/[^"]+"' | tr -d '"' | sort -u \
  | grep -E '^/(usr|etc|lib|lib64|bin|sbin|opt)/' | while read -r p; do [ -f "$p" ] && echo "$p"; done >"$work/opened"
echo "inductor-root: $(wc -l <"$work/opened") files executed or opened"

python3 - "$root" "$work" <<'PY'
import os, re, shutil, subprocess, sys
root, work = sys.argv[1], sys.argv[2]
opened = [l.rstrip("\n") for l in open(os.path.join(work, "opened"))]
opened_set = set(opened) | {os.path.realpath(p) for p in opened}

def canon(p):
    return os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))

def copy(p):
    """p at its canonical folder and, while it is a symbolic link, its target."""
    while True:
        p = canon(p)
        dst = root + p
        if os.path.lexists(dst):
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(p):
            t = os.readlink(p)
            os.symlink(t, dst)
            p = t if t.startswith("/") else os.path.join(os.path.dirname(p), t)
        elif os.path.isdir(p):  # a link's target that is a folder: the folder, not its files
            os.makedirs(dst, exist_ok=True)
            return
        else:
            shutil.copy2(p, dst)
            return

def is_object(p):
    if p.endswith((".a", ".o")):
        return True
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False

def py_source(p):  # __pycache__/NAME.cpython-3XX.pyc -> NAME.py
    m = re.match(r"(.*)/__pycache__/([^/]+)\.cpython-\d+(\.opt-[12])?\.pyc$", p)
    return "%s/%s.py" % (m.group(1), m.group(2)) if m else p

alone, whole_from = [], []
for p in opened:
    src = py_source(p)
    if (is_object(src) and not src.startswith("/usr/lib/python3")) or src.startswith(("/etc/", "/usr/share/zoneinfo/")) \
            or re.search(r"\.(dist|egg)-info/", src):
        alone.append(p)
    else:
        whole_from.append(src)
        alone.append(p)

# Owners: dpkg knows a file by the path its package installed (before or after merged /usr).
cands = set()
for p in whole_from:
    c = os.path.realpath(p)
    cands.update({p, c, c[4:] if c.startswith("/usr/") else c})
out = subprocess.run(["dpkg", "-S"] + sorted(cands), capture_output=True, text=True).stdout
owner = {}
for line in out.splitlines():
    pkgs, _, path = line.partition(": ")
    owner[path] = [x.strip().split(":")[0] for x in pkgs.split(",")]
pkgs = set()
for p in whole_from:
    c = os.path.realpath(p)
    o = owner.get(p) or owner.get(c) or owner.get(c[4:] if c.startswith("/usr/") else c)
    if not o:
        sys.exit("inductor-root: %s belongs to no package" % p)
    pkgs.update(o)

for p in alone:
    if p not in ("/etc/ld.so.cache", "/etc/passwd", "/etc/group"):
        copy(p)
skip = re.compile(r"^/usr/share/(doc|man|info|locale|lintian|bug)/|^/usr/lib/python3[^/]*/.*/tests?/")
n = 0
for pkg in sorted(pkgs):
    files = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True).stdout.splitlines()
    for f in files:
        if not os.path.lexists(f) or (os.path.isdir(f) and not os.path.islink(f)):
            continue
        if f not in opened_set and (skip.search(f) or (not os.path.islink(f) and is_object(f) and not f.startswith("/usr/lib/python3"))):
            continue
        copy(f)
        n += 1
        if f.endswith(".py"):
            d, b = os.path.split(f)
            cache = os.path.join(d, "__pycache__")
            if os.path.isdir(cache):
                for c in os.listdir(cache):
                    if c.startswith(b[:-3] + ".cpython-") and c.endswith(".pyc"):
                        copy(os.path.join(cache, c))
print("inductor-root: %d files alone, %d from whole packages (%d): %s" % (len(alone), n, len(pkgs), " ".join(sorted(pkgs))))
PY

rm -f "$root/etc/ld.so.cache"
ldconfig -X -r "$root"
echo "inductor-root: $root, $(du -sb --apparent-size "$root" | cut -f1) bytes"
