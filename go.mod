module github.com/wxflow/wxflow

go 1.26.8

require (
	github.com/expr-lang/expr v1.17.8
	github.com/robfig/cron/v3 v3.0.1
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/mattn/go-sqlite3 v1.14.52 // indirect
	golang.org/x/text v0.14.0 // indirect
)
