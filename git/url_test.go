package git

import "testing"

func TestCheckURL(t *testing.T) {
	for _, u := range []string{"https://github.com/o/r.git", "git@github.com:o/r.git", "ssh://git@host/r", "/srv/git/shop.git", "../shop"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
	for _, u := range []string{"", "--upload-pack=touch /tmp/pwned", "-oProxyCommand=x", "ext::sh -c id", "EXT::sh", "fd::0", " https://x", "https://x\n", "https://x\x00"} {
		if err := CheckURL(u); err == nil {
			t.Errorf("%q passed", u)
		}
	}
}
