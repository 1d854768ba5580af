// af_network_harness: a plain C++ Verilator driver for a generated af_network.
//
// The same protocol and output file as hw/rtl/af_network_tb.v (adderflow.hw.simulate), so
// the same reader checks it: input beats (one hex word a line) from +in=FILE, +images=N
// images of BEATS_IN beats, output always ready, every output beat to +out=FILE, then per
// image "latency <cycles>" and finally "cycles <total>" (or "timeout <cycle>"). +serial=1
// feeds an image only after the previous one has left. Without --timing and without a
// Verilog bench, a clock cycle is two eval() calls and a few loads and stores: this is the
// fast path (adderflow.hw.harness builds it).
//
// Cycle semantics mirror the Verilog bench exactly: at every rising edge the bench's
// counters see the values from before the edge (nonblocking updates), reset is released
// after the edge where cycle == 3, and `cycle` counts edges from 0.
//
// The model's top is af_harness_top (hw/harness/af_harness_top.v): it registers rst,
// in_valid and in_data, so the loop decides a cycle's inputs before the edge that starts
// it. The network's logic then reads no top-level input and Verilator evaluates it once a
// cycle, after the edge, instead of also in its input region on both eval() calls
// (1.2-1.4x the cycles/s, docs/benchmarks.md).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "Vaf_harness_top.h"
#include "verilated.h"

namespace {

constexpr int kInWords = (IN_W + 31) / 32;
constexpr int kOutWords = (OUT_W + 31) / 32;

using Word = std::vector<uint32_t>;  // 32-bit chunks, least significant first

Word parse_hex(const char* text) {
  Word w(kInWords, 0);
  const size_t n = std::strlen(text);
  for (size_t i = 0; i < n; ++i) {  // from the last digit: 4 bits each
    const char ch = text[n - 1 - i];
    const int v = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
    if (v < 0 || v > 15 || i / 8 >= static_cast<size_t>(kInWords)) continue;
    w[i / 8] |= static_cast<uint32_t>(v) << (4 * (i % 8));
  }
  return w;
}

template <typename Port>
void put(Port& port, const Word& w) {
  if constexpr (std::is_integral_v<Port>) {
    uint64_t v = w[0];
    if (kInWords > 1) v |= static_cast<uint64_t>(w[1]) << 32;
    port = static_cast<Port>(v);
  } else {
    for (size_t i = 0; i < Port::Words; ++i) port[i] = w[i];
  }
}

template <typename Port>
std::string hex(const Port& port) {
  uint32_t chunks[kOutWords];
  if constexpr (std::is_integral_v<Port>) {
    const uint64_t v = port;
    chunks[0] = static_cast<uint32_t>(v);
    if (kOutWords > 1) chunks[1] = static_cast<uint32_t>(v >> 32);
  } else {
    for (int i = 0; i < kOutWords; ++i) chunks[i] = port[i];
  }
  std::string out;
  char buf[9];
  for (int i = kOutWords - 1; i >= 0; --i) {
    const int bits = i == kOutWords - 1 ? OUT_W - 32 * i : 32;
    std::snprintf(buf, sizeof buf, "%0*x", (bits + 3) / 4, chunks[i]);
    out += buf;
  }
  return out;
}

const char* plusarg(int argc, char** argv, const char* name) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] == '+' && !std::strncmp(argv[i] + 1, name, n) && argv[i][1 + n] == '=')
      return argv[i] + 2 + n;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const char* in_path = plusarg(argc, argv, "in");
  const char* out_path = plusarg(argc, argv, "out");
  if (!in_path || !out_path) {
    std::fprintf(stderr, "af_network_harness: +in=FILE and +out=FILE are required\n");
    return 2;
  }
  auto arg = [&](const char* name, long long fallback) {
    const char* v = plusarg(argc, argv, name);
    return v ? std::atoll(v) : fallback;
  };
  const long long images = arg("images", 1), serial = arg("serial", 1);
  const long long max_cycles = arg("max_cycles", 100000000);

  std::vector<Word> words;
  if (FILE* f = std::fopen(in_path, "r")) {
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
      line[std::strcspn(line, "\r\n")] = 0;
      if (line[0]) words.push_back(parse_hex(line));
    }
    std::fclose(f);
  }
  FILE* out = std::fopen(out_path, "w");
  const long long total_in = images * BEATS_IN, total_out = images * BEATS_OUT;
  if (!out || static_cast<long long>(words.size()) < total_in) {
    std::fprintf(stderr, "af_network_harness: cannot read %lld beats from %s or open %s\n",
                 total_in, in_path, out_path);
    return 2;
  }

  auto context = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vaf_harness_top>(context.get());
  bool rst = true, in_valid = false;
  long long cycle = 0, n_in = 0, n_out = 0, start = 0;
  // This cycle's inputs from the counters; af_harness_top registers them at the edge
  // before the cycle (cycle 0's: its initial values, read at the first eval()).
  auto decide = [&] {
    const bool allowed = serial == 0 || n_in < (n_out / BEATS_OUT + 1) * BEATS_IN;
    in_valid = !rst && n_in < total_in && allowed;
    top->rst_next = rst;
    top->in_valid_next = in_valid;
    put(top->in_data_next, words[n_in < total_in ? n_in : total_in - 1]);
  };
  top->clk = 0;
  decide();
  top->eval();
  for (;; ++cycle) {
    // outputs settled by the previous eval(): the values before this cycle's edge
    const bool in_fire = in_valid && top->in_ready;
    const bool out_fire = top->out_valid;
    if (out_fire) {
      std::fprintf(out, "%s\n", hex(top->out_data).c_str());
      if (n_out % BEATS_OUT == BEATS_OUT - 1)
        std::fprintf(out, "latency %lld\n", cycle - start + 1);
      if (n_out == total_out - 1) {
        std::fprintf(out, "cycles %lld\n", cycle);
        break;
      }
    }
    if (cycle == max_cycles) {
      std::fprintf(out, "timeout %lld\n", cycle);
      break;
    }
    if (cycle == 3) rst = false;
    if (in_fire) {
      if (n_in % BEATS_IN == 0) start = cycle;
      ++n_in;
    }
    if (out_fire) ++n_out;
    decide();  // the next cycle's inputs, registered at this edge
    top->clk = 1;
    top->eval();  // the rising edge
    top->clk = 0;
    top->eval();  // no logic on the falling edge: arms the next rising edge
  }
  std::fclose(out);
  top->final();
  return 0;
}
