// Prints, for each decimal value on stdin, its integer word in each type below after the C++ conversion
// decimal -> double -> ap_fixed (the path of both hls4ml weight copies). Written for trigcomp's tests;
// licence: Apache-2.0, as trigcomp.
#include <cmath>
#include <iostream>
#include <string>
#include "ap_fixed.h"

template <class T> long long word(double value) {
    T fixed = value;
    return (long long)std::ldexp(fixed.to_double(), T::width - T::iwidth);  // exact: a power-of-two scale
}

int main() {
    std::string token;
    while (std::cin >> token) {
        double value = std::stod(token);
        std::cout << word<ap_fixed<4, 2>>(value) << ' ' << word<ap_fixed<4, 2, AP_RND>>(value) << ' '
                  << word<ap_fixed<4, 2, AP_RND_CONV>>(value) << ' ' << word<ap_fixed<4, 2, AP_RND_ZERO>>(value) << ' '
                  << word<ap_fixed<4, 2, AP_RND_INF>>(value) << ' ' << word<ap_fixed<4, 2, AP_RND_MIN_INF>>(value)
                  << ' ' << word<ap_fixed<4, 2, AP_TRN_ZERO>>(value) << ' '
                  << word<ap_fixed<4, 2, AP_TRN, AP_SAT>>(value) << ' '
                  << word<ap_fixed<4, 2, AP_TRN, AP_SAT_ZERO>>(value) << ' '
                  << word<ap_fixed<4, 2, AP_TRN, AP_SAT_SYM>>(value) << ' '
                  << word<ap_ufixed<4, 2, AP_RND_CONV, AP_SAT>>(value) << ' ' << word<ap_ufixed<4, 2>>(value) << ' '
                  << word<ap_fixed<6, -1>>(value) << ' ' << word<ap_fixed<12, 1>>(value) << '\n';
    }
}
