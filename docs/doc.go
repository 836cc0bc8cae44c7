// Package docs is Gatehouse's manual (the Markdown files beside this one)
// and the test that keeps it true: `go test ./docs` runs the README's quick
// start and every shell block the guides mark as runnable (a fenced block
// whose info string is "sh run"), and loads every YAML config example with
// `gatehouse serve --config FILE --check`. CONTRIBUTING.md says how to mark
// a block.
//
// It holds no code a program could import.
package docs
