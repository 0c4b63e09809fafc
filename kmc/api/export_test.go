package api

// ErrorBodyOf is errorBody, for the tests.
var ErrorBodyOf = errorBody
