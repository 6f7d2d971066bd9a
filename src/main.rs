fn main() {
    let gpu = shaderlm::gpu::Gpu::new(&Default::default()).unwrap();
    println!("{}", shaderlm::gpu::adapter::describe(&gpu.info));
}
