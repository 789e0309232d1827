package model_test

import (
	"fmt"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

func rawFeatures(n int) []model.Feature {
	fs := make([]model.Feature, n)
	for i := range fs {
		fs[i] = model.Raw(fmt.Sprintf("f%02d", i))
	}
	return fs
}

func testMetadata() model.Metadata {
	return model.Metadata{
		HeatpumpModel: "AERO SLM 3-11",
		WindowFrom:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		WindowTo:      time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
		Rows:          100000,
		Installations: 12,
		Seed:          1,
		CreatedAt:     time.Date(2026, 2, 1, 3, 0, 0, 0, time.UTC),
	}
}
