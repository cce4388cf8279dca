package mattermostfake

import (
	"encoding/json"
	"net/http"
)

// AppError is Mattermost's model.AppError as serialised on the wire
// (exporter/mattermostexporter/PROTOCOL.md section 2): detailed_error is always present and empty
// (EnableDeveloper off); request_id and status_code are omitempty.
type AppError struct {
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	RequestID     string `json:"request_id,omitempty"`
	StatusCode    int    `json:"status_code,omitempty"`
}

// AppError ids and their English messages (server/i18n/en.json), as the
// exporter relies on them.
const (
	ErrSessionExpired     = "api.context.session_expired.app_error"
	ErrTokenProvided      = "api.context.token_provided.app_error"
	ErrPermissions        = "api.context.permissions.app_error"
	ErrInvalidBodyParam   = "api.context.invalid_body_param.app_error"
	ErrInvalidURLParam    = "api.context.invalid_url_param.app_error"
	ErrInvalidParam       = "api.context.invalid_param.app_error"
	ErrBodyTooLarge       = "api.context.request_body_too_large.app_error"
	ErrDeletedChannel     = "api.post.create_post.can_not_post_to_deleted.error"
	ErrRootID             = "api.post.create_post.root_id.app_error"
	ErrChannelRootID      = "api.post.create_post.channel_root_id.app_error"
	ErrMessageLength      = "model.post.is_valid.message_length.app_error"
	ErrPropsLength        = "model.post.is_valid.props.app_error"
	ErrFileIDsLength      = "model.post.is_valid.file_ids.app_error"
	ErrPostSave           = "app.post.save.app_error"
	ErrChannelNotFound    = "app.channel.get.existing.app_error"
	ErrUserNotFound       = "app.user.missing_account.const"
	ErrFileTooLarge       = "api.file.upload_file.too_large_detailed.app_error"
	ErrFilesDisabled      = "api.file.attachments.disabled.app_error"
	ErrFileReadRequest    = "api.file.upload_file.read_request.app_error"
	ErrFileClientIDs      = "api.file.upload_file.incorrect_number_of_client_ids.app_error"
	ErrFileChannelIDs     = "api.file.upload_file.multiple_channel_ids.app_error"
	ErrFileNoFiles        = "api.file.upload_file.incorrect_number_of_files.app_error"
	ErrHookDisabled       = "web.incoming_webhook.disabled.app_error"
	ErrHookParse          = "model.incoming_hook.parse_data.app_error"
	ErrHookContentType    = "api.webhook.incoming.error"
	ErrHookText           = "web.incoming_webhook.text.app_error"
	ErrHookInvalid        = "web.incoming_webhook.invalid.app_error"
	ErrHookChannel        = "web.incoming_webhook.channel.app_error"
	ErrHookUser           = "web.incoming_webhook.user.app_error"
	ErrHookChannelLocked  = "web.incoming_webhook.channel_locked.app_error"
	ErrHookCreating       = "api.post.create_webhook_post.creating.app_error"
	ErrNotFound           = "api.context.404.app_error"
	ErrContractViolation  = "mattermostfake.contract_violation"
	ErrInjectedFailure    = "mattermostfake.injected_failure"
	msgInvalidURLParamFmt = "Invalid or missing %s parameter in request URL."
	msgInvalidBodyFmt     = "Invalid or missing %s in request body."
	msgInvalidParamFmt    = "Invalid %s parameter."
)

var messages = map[string]string{
	ErrSessionExpired:    "Invalid or expired session, please login again.",
	ErrTokenProvided:     "Session is not OAuth but token was provided in the query string.",
	ErrPermissions:       "You do not have the appropriate permissions.",
	ErrBodyTooLarge:      "Unable to process request. Request body too large.",
	ErrDeletedChannel:    "Can not post to deleted channel.",
	ErrRootID:            "Invalid RootId parameter.",
	ErrChannelRootID:     "Invalid ChannelId for RootId parameter.",
	ErrMessageLength:     "Post Message property is longer than the maximum permitted length.",
	ErrPropsLength:       "Invalid Props.",
	ErrFileIDsLength:     "Invalid file ids. Note that uploads are limited to 10 files maximum. Please use additional posts for more files.",
	ErrPostSave:          "Unable to save the Post.",
	ErrChannelNotFound:   "Unable to find the existing channel.",
	ErrUserNotFound:      "Unable to find the user.",
	ErrFileTooLarge:      "Unable to upload file. File is too large.",
	ErrFilesDisabled:     "File attachments have been disabled on this server.",
	ErrFileReadRequest:   "Unable to upload file(s). Error reading or parsing request data.",
	ErrFileClientIDs:     "Unable to upload file(s). Have {{.NumClientIds}} client_ids for {{.NumFiles}} files.",
	ErrFileChannelIDs:    "Unable to upload file(s). Multiple conflicting channel_ids.",
	ErrFileNoFiles:       "Unable to upload file(s). Have {{.NumClientIds}} client_ids for {{.NumFiles}} files.",
	ErrHookDisabled:      "Incoming webhooks have been disabled by the system admin.",
	ErrHookParse:         "Unable to parse incoming data",
	ErrHookContentType:   "Unable to parse incoming data for webhook.",
	ErrHookText:          "Text or attachments not specified.",
	ErrHookInvalid:       "Invalid webhook.",
	ErrHookChannel:       "Couldn't find the channel.",
	ErrHookUser:          "Couldn't find the user.",
	ErrHookChannelLocked: "This webhook is not permitted to post to the requested channel.",
	ErrHookCreating:      "Error creating post.",
	ErrNotFound:          "Sorry, we could not find the page.",
	ErrInjectedFailure:   "Injected failure.",
}

// writeAppError answers with a JSON AppError whose request_id matches the
// X-Request-Id header set by the middleware.
func writeAppError(w http.ResponseWriter, status int, id, message string) {
	if message == "" {
		message = messages[id]
	}
	rid := w.Header().Get("X-Request-Id")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(AppError{ID: id, Message: message, RequestID: rid, StatusCode: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
