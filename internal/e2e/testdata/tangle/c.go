package tangle

// C is used by a.go and uses d (b.go).
var C = "c" + d
