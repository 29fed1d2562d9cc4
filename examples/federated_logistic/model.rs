//! The model side of the example: the data set and logistic regression in plain floats.

/// Standardised features with a constant 1 appended (the bias), and the label (1 = benign).
pub(crate) type Example = (Vec<f64>, f64);

/// The vendored data set (`data/SOURCE.md`), compiled in: nothing is read at run time.
const CSV: &str = include_str!("../../data/breast_cancer_wisconsin.csv");

/// The examples, split into (train, test): every fifth example is held out.
pub(crate) fn load() -> (Vec<Example>, Vec<Example>) {
    let rows: Vec<Vec<f64>> = CSV
        .lines()
        .skip(1) // header: rows, features, class names
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let n = rows.len() as f64;
    let column = |j: usize| rows.iter().map(move |r| r[j]);
    let stats: Vec<(f64, f64)> = (0..30)
        .map(|j| {
            let mean = column(j).sum::<f64>() / n;
            let var = column(j).map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        })
        .collect();
    let examples = rows.iter().map(|r| {
        let x = stats.iter().zip(r).map(|((m, s), v)| (v - m) / s);
        (x.chain([1.0]).collect(), r[30])
    });
    let (test, train): (Vec<_>, Vec<_>) = examples.enumerate().partition(|(i, _)| i % 5 == 0);
    let strip = |v: Vec<(usize, Example)>| v.into_iter().map(|(_, e)| e).collect();
    (strip(train), strip(test))
}

fn predict(w: &[f64], x: &[f64]) -> f64 {
    1.0 / (1.0 + (-w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>()).exp())
}

/// A client's model update: five steps of full-batch gradient descent (rate 0.5) on its
/// examples, minus the global model.
pub(crate) fn local_update(w: &[f64], data: &[Example]) -> Vec<f64> {
    let mut v = w.to_vec();
    for _ in 0..5 {
        let mut grad = vec![0.0; w.len()];
        for (x, y) in data {
            let e = (predict(&v, x) - y) / data.len() as f64;
            grad.iter_mut().zip(x).for_each(|(g, xi)| *g += e * xi);
        }
        v.iter_mut().zip(&grad).for_each(|(a, g)| *a -= 0.5 * g);
    }
    v.iter().zip(w).map(|(a, b)| a - b).collect()
}

/// The weighted mean of the updates, in floats: plain FedAvg.
pub(crate) fn weighted_mean(updates: &[Vec<f64>], counts: &[u32]) -> Vec<f64> {
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let mut mean = vec![0.0; updates[0].len()];
    for (u, &c) in updates.iter().zip(counts) {
        mean.iter_mut()
            .zip(u)
            .for_each(|(m, x)| *m += x * f64::from(c) / total);
    }
    mean
}

/// The fraction of `test` classified correctly.
pub(crate) fn accuracy(w: &[f64], test: &[Example]) -> f64 {
    let right = test
        .iter()
        .filter(|(x, y)| (predict(w, x) > 0.5) == (*y > 0.5));
    right.count() as f64 / test.len() as f64
}
