package api

import "github.com/stskms/stskms/internal/httpapi"

// Client calls the admin API: the base URL, the bearer token ("" sends
// none) and the *http.Client to use (http.DefaultClient if nil). Its Do
// sends a JSON body and reads the answer; a non-2xx answer is a
// *StatusError.
type Client = httpapi.Client[ErrorBody]

// StatusError is a refusal of the API as the client sees it: the HTTP
// status and the ErrorBody.
type StatusError = httpapi.StatusError[ErrorBody]
