// Package mattermostexporter holds the mattermost exporter: it posts each
// slowspan alert found in its traces to a Mattermost channel, through the REST
// API with a bot token (rich post, flame graph and profile attached, follow-ups
// in the thread of the endpoint's first alert) or through an incoming webhook.
package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"
