package github

import (
	"encoding/json"

	gh "github.com/google/go-github/v92/github"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// ParseEvent normalises a pull_request or issue_comment delivery in
// GitHub's shape, which Gitea's payloads share (Gitea names its actions
// "synchronized" and "label_updated").
func ParseEvent(eventType, delivery string, body []byte) (*forge.Event, error) {
	ev := &forge.Event{Delivery: delivery}
	switch eventType {
	case "pull_request":
		var p gh.PullRequestEvent
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "pull_request payload: %v", err)
		}
		pr := p.GetPullRequest()
		ev.Verb, ev.Project, ev.Number, ev.IsPR = p.GetAction(), p.GetRepo().GetFullName(), p.GetNumber(), true
		if ev.Number == 0 {
			ev.Number = pr.GetNumber()
		}
		ev.Title, ev.Head, ev.HeadRef = pr.GetTitle(), pr.GetHead().GetSHA(), pr.GetHead().GetRef()
		ev.Fork = pr.GetHead().GetRepo().GetFullName() != "" && pr.GetHead().GetRepo().GetFullName() != pr.GetBase().GetRepo().GetFullName()
		ev.Sender, ev.Author, ev.Merged = p.GetSender().GetLogin(), pr.GetUser().GetLogin(), pr.GetMerged()
		for _, l := range pr.Labels {
			ev.Labels = append(ev.Labels, l.GetName())
		}
		ev.Label = p.GetLabel().GetName()
		switch ev.Verb {
		case "opened", "reopened":
			ev.Action = forge.Opened
		case "synchronize", "synchronized":
			ev.Action = forge.Pushed
		case "closed":
			ev.Action = forge.Closed
		case "labeled", "label_updated":
			ev.Action = forge.Labeled
		}
	case "issue_comment":
		var c gh.IssueCommentEvent
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "issue_comment payload: %v", err)
		}
		ev.Verb, ev.Project, ev.Number = c.GetAction(), c.GetRepo().GetFullName(), c.GetIssue().GetNumber()
		ev.IsPR = c.GetIssue().IsPullRequest() || isPull(body)
		ev.Sender, ev.Body = c.GetSender().GetLogin(), c.GetComment().GetBody()
		if ev.Verb == "created" && ev.IsPR {
			ev.Action = forge.Commented
		}
	}
	if ev.Action != forge.Ignored && (ev.Project == "" || ev.Number <= 0) {
		return nil, tandem.Errorf(tandem.EINVALID, "%s payload without a repository or a number", eventType)
	}
	return ev, nil
}

// isPull reads Gitea's is_pull, which says what GitHub's issue.pull_request does.
func isPull(body []byte) bool {
	var v struct {
		IsPull bool `json:"is_pull"`
	}
	json.Unmarshal(body, &v)
	return v.IsPull
}
