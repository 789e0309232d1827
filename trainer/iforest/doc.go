// Package iforest grows isolation forests (Liu, Ting & Zhou, ICDM 2008) and,
// as an option, Extended Isolation Forests (Hariri, Kind & Brunner, 2018), and
// scores rows with them.
//
// Fit grows t trees, each on ψ rows drawn without replacement, to a height
// limit of ⌈log2 ψ⌉; Score returns the paper's s = 2^(-E[h(x)]/c(ψ)), and
// ScoreSamples, DecisionFunction and Predict mirror scikit-learn's
// IsolationForest so that figures can be compared with it. Document turns a
// fitted forest into the portable model.Document that collectors score.
//
// Invariants:
//
//   - Determinism: tree i draws its random numbers from its own PCG stream,
//     seeded from (Config.Seed, i) only, and scoring adds the path lengths of
//     the trees in tree order, so the trees, the scores and the document bytes
//     are the same for every Workers value and every run.
//   - Trees are stored in the flat arrays of model.Tree and scored by
//     model.Scorer, the same code that scores a published document, so a
//     Forest and its Document give identical scores.
//   - Fit reads only the rows it samples (plus every row when a
//     contamination fraction needs training scores), so its cost does not grow
//     with the number of rows.
//   - The package uses the standard library only.
package iforest
