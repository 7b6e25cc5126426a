//! Helpers shared by the library's integration tests.

use safetensors::SafeTensors;

/// Every tensor of the safetensors file `bytes` (f32 data), as `(name, values)` sorted by name.
pub fn f32_tensors(bytes: &[u8]) -> Vec<(String, Vec<f32>)> {
    let file = SafeTensors::deserialize(bytes).expect("safetensors");
    let mut found: Vec<(String, Vec<f32>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}
