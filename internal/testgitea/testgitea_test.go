package testgitea

import "testing"

// The harness itself: Gitea answers its API, and the admin can make a
// repository the plain user cannot write to.
func TestGitea(t *testing.T) {
	g := Start(t)
	var repo struct {
		FullName string `json:"full_name"`
	}
	g.API(g.AdminToken, "POST", "/user/repos", map[string]any{"name": "hello", "auto_init": true}, &repo)
	if repo.FullName != g.Admin+"/hello" {
		t.Fatalf("repo %q", repo.FullName)
	}
	var perm struct {
		Permission string `json:"permission"`
	}
	g.API(g.AdminToken, "GET", "/repos/"+g.Admin+"/hello/collaborators/"+g.User+"/permission", nil, &perm)
	if perm.Permission != "read" && perm.Permission != "none" {
		t.Errorf("bob's permission: %q", perm.Permission)
	}
}
