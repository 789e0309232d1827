// Package parquetbench compares github.com/apache/arrow-go/v18 and
// github.com/parquet-go/parquet-go on the lake's partition file shape: one
// heat-pump model and one UTC day, sorted by (installation_id, timestamp),
// four key columns and 130 nullable DOUBLE metrics. Everything lives in the
// _test.go files; see README.md for the figures and the recommendation.
//
//	go test -run '^$' -bench . -benchmem -count 3 ./bench/parquet/
package parquetbench
