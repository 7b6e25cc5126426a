//! Constants of the `opensimplex` 0.4.5.1 package (`constants.py`), bit for bit.

/// Gradients for 2-D: directions to the vertices of an octagon, as `(gx, gy)` pairs.
pub const GRADIENTS2: [i8; 16] = [5, 2, 2, 5, -5, 2, -2, 5, 5, -2, 2, -5, -5, -2, -2, -5];

/// Gradients for 3-D: directions to the vertices of a rhombicuboctahedron, as `(gx, gy, gz)`.
pub const GRADIENTS3: [i8; 72] = [
    -11, 4, 4, -4, 11, 4, -4, 4, 11, //
    11, 4, 4, 4, 11, 4, 4, 4, 11, //
    -11, -4, 4, -4, -11, 4, -4, -4, 11, //
    11, -4, 4, 4, -11, 4, 4, -4, 11, //
    -11, 4, -4, -4, 11, -4, -4, 4, -11, //
    11, 4, -4, 4, 11, -4, 4, 4, -11, //
    -11, -4, -4, -4, -11, -4, -4, -4, -11, //
    11, -4, -4, 4, -11, -4, 4, -4, -11, //
];

/// Gradients for 4-D: directions to the vertices of a disprismatotesseractihexadecachoron,
/// as `(gx, gy, gz, gw)`.
pub const GRADIENTS4: [i8; 256] = [
    3, 1, 1, 1, 1, 3, 1, 1, 1, 1, 3, 1, 1, 1, 1, 3, //
    -3, 1, 1, 1, -1, 3, 1, 1, -1, 1, 3, 1, -1, 1, 1, 3, //
    3, -1, 1, 1, 1, -3, 1, 1, 1, -1, 3, 1, 1, -1, 1, 3, //
    -3, -1, 1, 1, -1, -3, 1, 1, -1, -1, 3, 1, -1, -1, 1, 3, //
    3, 1, -1, 1, 1, 3, -1, 1, 1, 1, -3, 1, 1, 1, -1, 3, //
    -3, 1, -1, 1, -1, 3, -1, 1, -1, 1, -3, 1, -1, 1, -1, 3, //
    3, -1, -1, 1, 1, -3, -1, 1, 1, -1, -3, 1, 1, -1, -1, 3, //
    -3, -1, -1, 1, -1, -3, -1, 1, -1, -1, -3, 1, -1, -1, -1, 3, //
    3, 1, 1, -1, 1, 3, 1, -1, 1, 1, 3, -1, 1, 1, 1, -3, //
    -3, 1, 1, -1, -1, 3, 1, -1, -1, 1, 3, -1, -1, 1, 1, -3, //
    3, -1, 1, -1, 1, -3, 1, -1, 1, -1, 3, -1, 1, -1, 1, -3, //
    -3, -1, 1, -1, -1, -3, 1, -1, -1, -1, 3, -1, -1, -1, 1, -3, //
    3, 1, -1, -1, 1, 3, -1, -1, 1, 1, -3, -1, 1, 1, -1, -3, //
    -3, 1, -1, -1, -1, 3, -1, -1, -1, 1, -3, -1, -1, 1, -1, -3, //
    3, -1, -1, -1, 1, -3, -1, -1, 1, -1, -3, -1, 1, -1, -1, -3, //
    -3, -1, -1, -1, -1, -3, -1, -1, -1, -1, -3, -1, -1, -1, -1, -3, //
];

/// `(1/sqrt(2+1) - 1) / 2`, as the package writes it.
pub const STRETCH_CONSTANT2: f64 = -0.211324865405187;
/// `(sqrt(2+1) - 1) / 2`, as the package writes it.
pub const SQUISH_CONSTANT2: f64 = 0.366025403784439;
/// `(1/sqrt(3+1) - 1) / 3`.
pub const STRETCH_CONSTANT3: f64 = -1.0 / 6.0;
/// `(sqrt(3+1) - 1) / 3`.
pub const SQUISH_CONSTANT3: f64 = 1.0 / 3.0;
/// `(1/sqrt(4+1) - 1) / 4`, as the package writes it.
pub const STRETCH_CONSTANT4: f64 = -0.138196601125011;
/// `(sqrt(4+1) - 1) / 4`, as the package writes it.
pub const SQUISH_CONSTANT4: f64 = 0.309016994374947;

/// Normalisation of the 2-D sum.
pub const NORM_CONSTANT2: f64 = 47.0;
/// Normalisation of the 3-D sum.
pub const NORM_CONSTANT3: f64 = 103.0;
/// Normalisation of the 4-D sum.
pub const NORM_CONSTANT4: f64 = 30.0;
