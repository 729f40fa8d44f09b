package tandem

import "net"

// Vars are the variables every stack file can interpolate. Under `tandem up`
// they take local values; under `tandem serve` a preview's.
type Vars struct {
	// Host is PREVIEW_HOST: a bare host name, never a scheme or a port
	// ("localhost", "pr-7.previews.example.com"), because Django compares
	// ALLOWED_HOSTS with the request's host without its port, so
	// "ALLOWED_HOSTS: ${PREVIEW_HOST},api" works wherever the gateway listens.
	Host string
	// URL is PREVIEW_URL: the origin browsers use, scheme and port included
	// ("http://localhost:8080", "https://pr-7.previews.example.com"), for
	// CSRF_TRUSTED_ORIGINS, NEXTAUTH_URL and NEXT_PUBLIC_API_URL.
	URL       string
	Name      string // PREVIEW_NAME: "local", "pr-7"
	GitSHA    string // GIT_SHA
	GitBranch string // GIT_BRANCH
	PRNumber  string // PR_NUMBER
	// Secrets are the generated values of preview.secrets, by name.
	Secrets map[string]string
}

// Env returns the variables as an environment, secrets included.
func (v Vars) Env() map[string]string {
	env := map[string]string{
		"PREVIEW_HOST": v.Host,
		"PREVIEW_URL":  v.URL,
		"PREVIEW_NAME": v.Name,
		"GIT_SHA":      v.GitSHA,
		"GIT_BRANCH":   v.GitBranch,
		"PR_NUMBER":    v.PRNumber,
	}
	for k, s := range v.Secrets {
		env[k] = s
	}
	return env
}

// LocalVars are the values under `tandem up`, for a gateway listening on
// listen (":8080", "127.0.0.1:9000"). A browser reaches a local gateway as
// localhost, so that is the host, whatever address it is bound to.
func LocalVars(listen string) Vars {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		port = "8080"
	}
	return Vars{Host: "localhost", URL: "http://" + net.JoinHostPort("localhost", port), Name: "local"}
}
