// The shared-prompt batch layout: the one row layout the CPU and CUDA engines compute a call's items in.
//
// A SPOGW group is one query's prompt followed by several responses (8 in the paper), so the items of
// one backward or log-prob call mostly share their prompt (the tokens before response_start). Items
// with identical prompts form one group, computed as one packed sequence of rows:
//
//   rows [0, P)                               the prompt, at positions 0 .. P-1
//   rows [R_k, R_k + n_k) for each response k  tokens[response_start .. T) of item k, at positions
//                                              P .. P + n_k - 1, with R_0 = P and R_{k+1} = R_k + n_k
//
// Row-wise operations (embedding, RMSNorm, every projection, SwiGLU, RoPE at each row's position) run
// on all rows at once, so each weight is streamed once per group. Attention is the only op that sees
// the tree: a prompt row attends causally within the prompt; row j of response k attends to the
// prompt rows [0, P) and to its own rows [R_k, R_k + j] — never to another response. The output layer
// reads, for response k, row P - 1 (it predicts the response's first token) and then rows
// R_k .. R_k + n_k - 2; the response's last row predicts nothing but is kept so that a response's rows
// equal that item's own rows [response_start, T) computed alone.
//
// Computed this way every item's activations equal its own per-item computation; the gradient of the
// shared prompt rows is the sum of every response's contribution, taken through the prompt once.
#pragma once
#include <cstdint>
#include <vector>

namespace spogw {

// One response of a group: the item it came from (index in the call's list) and its packed rows.
struct GroupResponse {
  int64_t item = 0;
  int64_t row = 0;     // R_k: first packed row
  int64_t length = 0;  // n_k = T - response_start of the item (>= 1)
};

struct GroupLayout {
  std::vector<int32_t> tokens;     // [rows]: the prompt's tokens, then each response's tokens in order
  std::vector<int32_t> positions;  // [rows]: position of each row (prompt 0..P-1, response P..P+n_k-1)
  int64_t prompt_rows = 0;         // P (>= 1)
  std::vector<GroupResponse> responses;
  int64_t rows() const { return int64_t(tokens.size()); }
};

// What plan_groups reads of an item: its tokens [T], prompt then response from response_start.
struct GroupItem {
  const int32_t* tokens = nullptr;
  int64_t T = 0;
  int64_t response_start = 0;  // in [1, T)
};

// Groups items by identical prompts (same response_start, same tokens before it), in the order each
// prompt first appears; within a group, responses keep the items' order. Items were checked by the
// caller (response_start in [1, T)).
std::vector<GroupLayout> plan_groups(const std::vector<GroupItem>& items);

// A sequence on its own (logits, tokenLogprobs): T prompt rows at positions 0..T-1, no response, so
// attention is plain causal attention over it.
GroupLayout single_sequence(const int32_t* tokens, int64_t T);

// The largest position of any row: the RoPE angle table must cover it.
int32_t max_position(const GroupLayout& g);

}  // namespace spogw
