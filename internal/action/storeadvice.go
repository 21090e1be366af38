package action

import (
	"fmt"

	"github.com/perflab/perflab/internal/github"
)

// notStored says, in v.stored and in a warning, why the baseline at path could not be
// stored on branch, and what to do, for the two answers that are the workflow's to fix
// whatever the permissions: a token GitHub refuses (401), and a branch that refuses
// direct writes. The advice for the latter depends on whether the baselines already have
// a branch of their own: naming one again would send the user in a circle.
func (j *job) notStored(v *verdict, path, branch string, err error) {
	var warning string
	switch {
	case github.IsBadToken(err):
		v.stored = fmt.Sprintf("NOT stored: the github-token was refused (%v): it is wrong, expired or revoked; the updated file is in the workspace", err)
		warning = fmt.Sprintf("baseline %s NOT stored: the github-token was refused (%v): it is wrong, expired or revoked, and no permission fixes that. %s", path, err, badTokenFix)
	case j.in.BaselineBranch != "" && branch == j.in.BaselineBranch:
		v.stored = fmt.Sprintf("NOT stored: the baseline branch %s refuses direct writes too (%v); the updated file is in the workspace. A baseline branch must accept this workflow's commits: remove its branch protection or ruleset, or let github-actions bypass it", branch, err)
		warning = fmt.Sprintf("baseline %s NOT stored: the baseline branch %s (input baseline-branch) refuses direct writes (%v): a protection rule or ruleset covers it. Baselines need a branch this workflow can commit to: remove the protection from %s (it holds only baselines; a rule such as \"protect *\" may be catching it), or allow github-actions to bypass it", path, branch, err, branch)
	default:
		v.stored = fmt.Sprintf("NOT stored: %s refuses direct writes (%v); the updated file is in the workspace. Store baselines on a branch of their own: input `baseline-branch: perflab-baselines` (in the gate workflow too)", branch, err)
		warning = fmt.Sprintf("baseline %s NOT stored: %s refuses direct writes (%v): a protected branch or a ruleset. Set the input baseline-branch (e.g. perflab-baselines) in this workflow and in the gate workflow to keep baselines on a branch of their own, one that no protection rule covers", path, branch, err)
	}
	j.warnf("%s", warning)
}
