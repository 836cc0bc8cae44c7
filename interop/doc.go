// Package interop holds Gatehouse's end-to-end tests against real peers:
// the gatehouse binary is built and run as a user would run it, and curl,
// Python (Debian's requests, gssapi…), Chromium and the MIT KDC talk to it.
// scripts/test-env.sh installs and starts what these tests need; with
// CI=true a missing peer fails the test instead of skipping it.
package interop
