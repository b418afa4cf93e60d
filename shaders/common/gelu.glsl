// Exact (erf) GELU in fp32: gelu(x) = x/2 (1 + erf(x / sqrt 2)) = x Phi(x).
//
// GLSL has no erf. Two fits of our own (Chebyshev fits made with mpmath, rounded to fp32):
//   |x| < 1 : erf(x/sqrt2) = x P(x^2)                                  P: degree 6
//   |x| >= 1: erfc(|x|/sqrt2) = exp(-x^2/2) R(s),  t = 2/(2+|x|),
//             s = (2t - (t0+t1)) / (t1-t0) in [-1, 1] for |x| in [1, 14]  R: degree 10
// so for x < 0, Phi(x) = erfc/2 is computed directly, without the cancellation of 1 + erf.
// exp(-x^2/2) splits |x| into a 12-bit head (exact square) and a tail, so the argument of exp
// keeps full precision, and reduces the argument itself (Cody-Waite, exp(-a) = 2^-k exp(-r),
// |r| <= ln2/2): GLSL's exp may lose |a| ulp for a large argument (lavapipe's does: exp2 of a
// rounded a*log2e), which would cost 1e-5 in the tail. Measured in an fp32 simulation: relative
// error <= 5e-7 on [-13, 13] (with a correctly rounded exp); where the tail drops below 2^-125
// (|x| > ~13.2) it is taken as 0.
#ifndef LSVK_GELU_GLSL
#define LSVK_GELU_GLSL

// exp(-(a + b)) for a >= 0 and |b| < 0.1, accurate to a few ulp whatever the size of a
// (0 past 2^-125).
float lsvk_exp_neg(float a, float b) {
    float k = floor(a * 1.442695041 + 0.5);
    if (k > 125.0) return 0.0;
    // k has at most 7 bits and ln2's head 16, so k * head is exact; precise keeps the compiler
    // from refolding the two constants into one rounded ln2.
    precise float r = (a - k * 0.693145751953125) - k * 1.428606820309417e-06;
    precise float rb = r + b;
    return exp(-rb) * uintBitsToFloat(uint(127.0 - k) << 23);
}

// erfc(ax / sqrt 2) for ax >= 1 (also finite for ax in [0, 1), where it is less accurate).
float lsvk_erfc_half(float ax) {
    if (ax >= 16.0) return 0.0;
    float t = 2.0 / (2.0 + ax);
    float s = t * 3.692307711e+00 - 1.461538434e+00;
    float r = 1.681267037e-07;
    r = r * s + 1.593459615e-06;
    r = r * s - 6.285920790e-06;
    r = r * s - 9.787058843e-06;
    r = r * s + 1.038865958e-04;
    r = r * s - 4.801465548e-05;
    r = r * s - 1.711406861e-03;
    r = r * s + 1.966298325e-03;
    r = r * s + 5.208773166e-02;
    r = r * s + 2.313155383e-01;
    r = r * s + 2.394568622e-01;
    // x^2/2 = hi^2/2 (exact: hi has 12 bits) + lo (ax + hi) / 2
    float hi = uintBitsToFloat(floatBitsToUint(ax) & 0xFFFFF000u);
    precise float lo = ax - hi;
    precise float a = 0.5 * (hi * hi);
    return lsvk_exp_neg(a, 0.5 * lo * (ax + hi)) * r;
}

// erf(x / sqrt 2) for |x| < 1.
float lsvk_erf_half_small(float x) {
    float u = x * x;
    float p = 1.074528654e-06;
    p = p * u - 1.854880247e-05;
    p = p * u + 2.306414972e-04;
    p = p * u - 2.374577569e-03;
    p = p * u + 1.994710043e-02;
    p = p * u - 1.329807639e-01;
    p = p * u + 7.978845835e-01;
    return x * p;
}

// Phi(x), the standard normal CDF.
float lsvk_phi(float x) {
    float ax = abs(x);
    if (ax < 1.0) return 0.5 + 0.5 * lsvk_erf_half_small(x);
    float q = 0.5 * lsvk_erfc_half(ax);
    return x < 0.0 ? q : 1.0 - q;
}

float lsvk_gelu(float x) { return x * lsvk_phi(x); }

#endif
