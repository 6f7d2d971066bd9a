//! Property tests of the sampler: for any logits (ties, -inf, huge values) and any valid
//! flags it returns an index in range, it repeats itself for a seed, and non-finite logits
//! are an error rather than a pick.

use proptest::prelude::*;
use shaderlm::sampling::{Sampler, SamplingParams};

fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -30.0f32..30.0,
        1 => Just(f32::NEG_INFINITY),
        1 => prop_oneof![Just(1e30f32), Just(-1e30f32), Just(f32::MAX), Just(f32::MIN)],
        1 => Just(0.0f32),
    ]
}

fn params() -> impl Strategy<Value = SamplingParams> {
    (
        prop_oneof![Just(0.0f32), 0.01f32..5.0],
        0usize..100,
        prop_oneof![Just(1.0f32), 0.001f32..1.0],
        prop_oneof![Just(0.0f32), 0.0f32..=1.0],
        prop_oneof![Just(1.0f32), 0.1f32..3.0],
        0usize..100,
        any::<u64>(),
    )
        .prop_map(
            |(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed)| {
                SamplingParams {
                    temperature,
                    top_k,
                    top_p,
                    min_p,
                    repeat_penalty,
                    repeat_last_n,
                    seed: Some(seed),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn always_an_index_in_range(logits in prop::collection::vec(logit(), 1..300), p in params(), history in prop::collection::vec(0u32..400, 0..50)) {
        let mut sampler = Sampler::new(p).unwrap();
        let token = sampler.sample(&logits, &history).unwrap();
        prop_assert!((token as usize) < logits.len());
    }

    #[test]
    fn ties_and_all_masked_rows_still_pick_a_token(n in 1usize..50, value in prop_oneof![Just(f32::NEG_INFINITY), -5.0f32..5.0], p in params()) {
        let logits = vec![value; n];
        let mut sampler = Sampler::new(p).unwrap();
        prop_assert!((sampler.sample(&logits, &[]).unwrap() as usize) < n);
    }

    #[test]
    fn deterministic_for_a_seed(logits in prop::collection::vec(logit(), 1..300), p in params()) {
        let draw = |p: &SamplingParams| {
            let mut sampler = Sampler::new(p.clone()).unwrap();
            (0..10).map(|_| sampler.sample(&logits, &[]).unwrap()).collect::<Vec<_>>()
        };
        prop_assert_eq!(draw(&p), draw(&p));
    }

    #[test]
    fn nan_or_positive_infinity_is_an_error(mut logits in prop::collection::vec(logit(), 1..100), at in any::<prop::sample::Index>(), nan in any::<bool>(), p in params()) {
        let i = at.index(logits.len());
        logits[i] = if nan { f32::NAN } else { f32::INFINITY };
        let mut sampler = Sampler::new(p).unwrap();
        let error = sampler.sample(&logits, &[]).unwrap_err();
        prop_assert_eq!(error.kind(), shaderlm::ErrorKind::Generation);
    }
}
