package review

import (
	"fmt"
	"strings"

	"github.com/tandem-dev/tandem"
)

// Line says where a review stands in one line of at most 140 characters,
// for a commit status's description: "approved: qa, product",
// "in review: checklist 2/3, stage qa open (0/1)".
func Line(st *tandem.ReviewState) string {
	var b strings.Builder
	b.WriteString(st.State)
	switch st.State {
	case tandem.ReviewApproved:
		var names []string
		for _, ss := range st.Stages {
			names = append(names, ss.Stage.Name)
		}
		if len(names) > 0 {
			b.WriteString(": " + strings.Join(names, ", "))
		}
	case tandem.ReviewRejected:
		for _, ss := range st.Stages {
			if ss.State == tandem.StageRejected {
				fmt.Fprintf(&b, ": stage %s", ss.Stage.Name)
				break
			}
		}
	case tandem.ReviewInProgress:
		done := 0
		for _, is := range st.Checklist {
			if is.Done {
				done++
			}
		}
		var parts []string
		if len(st.Checklist) > 0 {
			parts = append(parts, fmt.Sprintf("checklist %d/%d", done, len(st.Checklist)))
		}
		for _, ss := range st.Stages {
			if ss.State == tandem.StageOpen {
				parts = append(parts, fmt.Sprintf("stage %s open (%d/%d)", ss.Stage.Name, signers(ss), ss.Stage.Signers))
				break
			}
		}
		if len(parts) > 0 {
			b.WriteString(": " + strings.Join(parts, ", "))
		}
	}
	s := b.String()
	if len(s) > 140 {
		s = s[:137] + "..."
	}
	return s
}

// Summary is the review as Markdown, for a pull request's comment: the
// state, the generation and commit, the checklist, the stages with who
// signed what, and what an earlier commit's signatures were ("approved at
// abc1234, superseded"). Text from the plan and from people is escaped.
func Summary(st *tandem.ReviewState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Review: %s**", st.State)
	if st.Generation > 0 {
		fmt.Fprintf(&b, " — generation %d at `%s`", st.Generation, short(st.Binding.Commit))
	}
	b.WriteString("\n")
	if len(st.Checklist) > 0 {
		b.WriteString("\n| Checklist | Result | Evidence |\n|---|---|---|\n")
		for _, is := range st.Checklist {
			result := "—"
			if is.Result != nil {
				result = is.Result.Result + " (" + md(is.Result.By) + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %d files |\n", md(is.Item.Text), result, len(is.Evidence))
		}
	}
	if len(st.Stages) > 0 {
		b.WriteString("\n| Stage | State | Signed by |\n|---|---|---|\n")
		for _, ss := range st.Stages {
			var by []string
			for _, a := range ss.Signatures {
				by = append(by, fmt.Sprintf("%s, %s %s UTC", md(a.Signature.PrintedName), a.Signature.Meaning, a.Signature.Time.UTC().Format("2006-01-02 15:04")))
			}
			fmt.Fprintf(&b, "| %s | %s (%d/%d) | %s |\n", md(ss.Stage.Name), ss.State, signers(ss), ss.Stage.Signers, strings.Join(by, "; "))
		}
	}
	if len(st.Superseded) > 0 {
		b.WriteString("\nSuperseded by a newer commit:\n")
		for _, a := range st.Superseded {
			fmt.Fprintf(&b, "- %s at `%s` by %s (stage %s), superseded\n", a.Signature.Meaning, short(a.Commit), md(a.Signature.PrintedName), md(nonEmpty(a.Signature.Stage, "none")))
		}
	}
	return b.String()
}

// signers counts a stage's distinct approving signers.
func signers(ss tandem.StageState) int {
	seen := map[string]bool{}
	for _, a := range ss.Signatures {
		if a.Signature.Meaning != tandem.MeaningRejected {
			seen[a.Email] = true
		}
	}
	return len(seen)
}

// md escapes text for a Markdown table cell: no markup, links or HTML
// from a pull request's plan or a person's name.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			b.WriteRune(' ')
		case strings.ContainsRune("\\`*_{}[]()#+-.!|<>&~", r):
			b.WriteRune('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
