module github.com/stskms/stskms

go 1.26
