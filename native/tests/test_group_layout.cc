// plan_groups (engine/group_layout.h): items with identical prompts form one packed group, in the order
// each prompt first appears, responses in the items' order; rows, positions and tokens as the header's
// layout says. Expected layouts written out by hand.
#include <string>
#include <vector>

#include "spogw/engine/group_layout.h"
#include "test_util.h"

using namespace spogw;
using namespace spogw::test;

namespace {

std::string show(const std::vector<int32_t>& v) {
  std::string s;
  for (const int32_t x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

void expect_vector(const std::string& what, const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  report(got == want, what, "got [" + show(got) + "], want [" + show(want) + "]");
}

void check_mixed_prompts() {
  // Items 0, 2 and 4 share the prompt [7 8 9]; item 1 has the prompt [7 8] (a prefix, not the same
  // prompt); item 3 has [7 8 9] followed by more prompt, so its prompt differs too.
  const std::vector<std::vector<int32_t>> seqs = {{7, 8, 9, 1, 2}, {7, 8, 9, 3}, {7, 8, 9, 4}, {7, 8, 9, 5, 6}, {7, 8, 9, 10, 11, 12}};
  const std::vector<int64_t> starts = {3, 2, 3, 4, 3};
  std::vector<GroupItem> items;
  for (size_t i = 0; i < seqs.size(); i++) items.push_back({seqs[i].data(), int64_t(seqs[i].size()), starts[i]});
  const std::vector<GroupLayout> groups = plan_groups(items);
  report(groups.size() == 3, "three distinct prompts make three groups", format("got %zu", groups.size()));
  if (groups.size() != 3) return;
  const GroupLayout& a = groups[0];
  report(a.prompt_rows == 3 && a.rows() == 3 + 2 + 1 + 3, "group 0: 3 prompt rows, 9 rows", format("P=%lld rows=%lld", (long long)a.prompt_rows, (long long)a.rows()));
  expect_vector("group 0 tokens", a.tokens, {7, 8, 9, 1, 2, 4, 10, 11, 12});
  expect_vector("group 0 positions", a.positions, {0, 1, 2, 3, 4, 3, 3, 4, 5});
  std::vector<int32_t> resp;
  for (const GroupResponse& r : a.responses) resp.insert(resp.end(), {int32_t(r.item), int32_t(r.row), int32_t(r.length)});
  expect_vector("group 0 responses (item, row, length)", resp, {0, 3, 2, 2, 5, 1, 4, 6, 3});
  expect_vector("group 1 tokens (item 1)", groups[1].tokens, {7, 8, 9, 3});
  expect_vector("group 1 positions", groups[1].positions, {0, 1, 2, 3});
  report(groups[1].prompt_rows == 2 && groups[1].responses.size() == 1 && groups[1].responses[0].item == 1, "group 1 is item 1 with P = 2", "");
  expect_vector("group 2 tokens (item 3)", groups[2].tokens, {7, 8, 9, 5, 6});
  report(groups[2].prompt_rows == 4 && groups[2].responses.size() == 1 && groups[2].responses[0].item == 3, "group 2 is item 3 with P = 4", "");
}

}  // namespace

int main(int argc, char** argv) {
  return run_checks(argc, argv, {
      {"group layout mixed prompts", [&] { check_mixed_prompts(); }},
  });
}
