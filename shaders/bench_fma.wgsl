// Arithmetic rate: every invocation runs `iterations` rounds of 8 independent vec4
// multiply-adds (64 FLOP a round) in registers and writes one value so nothing is discarded.
// The Rust owner (src/bench/ceilings.rs) prepends WG.

struct Params {
    iterations: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let seed = f32(gid.x) * 1e-9;
    let m = vec4<f32>(0.999, 0.998, 0.997, 0.996);
    let c = vec4<f32>(1e-3 + seed);
    var a0 = vec4<f32>(seed);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    var a4 = a0 + 4.0;
    var a5 = a0 + 5.0;
    var a6 = a0 + 6.0;
    var a7 = a0 + 7.0;
    for (var i = 0u; i < p.iterations; i++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    sink[gid.x] = s.x + s.y + s.z + s.w;
}
