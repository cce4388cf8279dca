// Package redistest runs a real redis-server for tests, and a TCP proxy in
// front of it that delays the server's replies and counts the commands that
// pass: round trips, not wall clock, show how a client talks to Redis.
package redistest
