module example.com/slipway-sample-go

go 1.22
