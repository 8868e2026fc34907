// Package oidctest is an OpenID Connect provider for tests, in process: a
// discovery document, a key set, an authorization endpoint that signs in
// whichever known user the request names (login_hint) without a form,
// and a token endpoint that exchanges a code (PKCE S256 checked) for an
// RS256-signed ID token. It implements what a relying party needs of the
// authorization code flow, and refuses what a real provider refuses: an
// unknown client, a redirect URI other than the registered one, a code
// used twice or with the wrong verifier.
package oidctest
