module github.com/slipway/slipway

go 1.26.8
