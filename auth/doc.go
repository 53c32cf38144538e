// Package auth holds dobj's bearer tokens: the --auth-file format (one
// "ROLE TOKEN" a line, "#" starts a comment), the roles read < write <
// admin, a constant-time lookup, and a Store that reloads the file without
// a restart (serve calls Reload on SIGHUP). api asks it which role a
// request's token has; it imports nothing of the project.
//
// Tokens never leave this package: errors name line numbers, never a
// line's text, and nothing here logs.
package auth
