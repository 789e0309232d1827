package iforest

import "fmt"

// Matrix is a row-major matrix of float64 values: row i holds
// Data[i*Stride : i*Stride+Cols]. A Stride larger than Cols lets a caller
// score a prefix of wider rows without copying. Matrix is the fast path for
// both fitting and scoring; Dense converts [][]float64.
type Matrix struct {
	Data       []float64
	Rows, Cols int
	// Stride is the distance between the starts of two rows; 0 means Cols.
	Stride int
}

// Dense copies rows, which must all have the same length, into a Matrix.
func Dense(rows [][]float64) (Matrix, error) {
	if len(rows) == 0 || len(rows[0]) == 0 {
		return Matrix{}, fmt.Errorf("%w: no rows or no columns", ErrShape)
	}
	cols := len(rows[0])
	data := make([]float64, 0, len(rows)*cols)
	for i, r := range rows {
		if len(r) != cols {
			return Matrix{}, fmt.Errorf("%w: row %d has %d columns, row 0 has %d", ErrShape, i, len(r), cols)
		}
		data = append(data, r...)
	}
	return Matrix{Data: data, Rows: len(rows), Cols: cols}, nil
}

// Row returns row i, sharing m's storage.
func (m Matrix) Row(i int) []float64 {
	s := m.stride()
	return m.Data[i*s : i*s+m.Cols]
}

func (m Matrix) stride() int {
	if m.Stride == 0 {
		return m.Cols
	}
	return m.Stride
}

// check reports whether m's fields describe a readable matrix.
func (m Matrix) check() error {
	s := m.stride()
	switch {
	case m.Rows < 1 || m.Cols < 1:
		return fmt.Errorf("%w: %d rows, %d columns", ErrShape, m.Rows, m.Cols)
	case s < m.Cols:
		return fmt.Errorf("%w: stride %d less than %d columns", ErrShape, s, m.Cols)
	case len(m.Data) < (m.Rows-1)*s+m.Cols:
		return fmt.Errorf("%w: %d rows of stride %d need %d values, have %d",
			ErrShape, m.Rows, s, (m.Rows-1)*s+m.Cols, len(m.Data))
	}
	return nil
}

// slice returns rows [a, b) of m.
func (m Matrix) slice(a, b int) Matrix {
	s := m.stride()
	return Matrix{Data: m.Data[a*s:], Rows: b - a, Cols: m.Cols, Stride: s}
}
