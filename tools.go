//go:build tools

// Package tools pins dependencies that later packages import, so go mod tidy keeps them.
package tools

import (
	_ "github.com/emersion/go-smtp"
	_ "github.com/expr-lang/expr"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-resty/resty/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/robfig/cron/v3"
	_ "github.com/stretchr/testify/require"
	_ "github.com/wneessen/go-mail"
	_ "go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite"
)
