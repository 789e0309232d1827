//go:build race

package parquetbench

const raceEnabled = true
