package gateway

import "github.com/stskms/stskms/gwresult"

// codeText returns the documented text of code (gwresult.Codes), or "".
func codeText(code string) string {
	c, _ := gwresult.Lookup(code)
	return c.Description
}

// errorResult returns the Error result of code with its documented text.
func errorResult(code string, params ...string) gwresult.Result {
	text := codeText(code)
	if text == "" {
		text = codeText(gwresult.EInternal)
	}
	return gwresult.Result{Kind: gwresult.Failure, Code: code, Text: text, Params: params}
}
