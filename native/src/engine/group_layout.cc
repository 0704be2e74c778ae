#include "spogw/engine/group_layout.h"

#include <algorithm>
#include <map>
#include <string_view>

namespace spogw {

std::vector<GroupLayout> plan_groups(const std::vector<GroupItem>& items) {
  std::vector<GroupLayout> groups;
  // Prompt bytes -> group index; the key views the first item's own tokens, which outlive this call.
  std::map<std::string_view, size_t> by_prompt;
  std::vector<std::vector<int64_t>> members;
  for (size_t i = 0; i < items.size(); i++) {
    const GroupItem& it = items[i];
    const std::string_view prompt(reinterpret_cast<const char*>(it.tokens), size_t(it.response_start) * sizeof(int32_t));
    const auto [pos, added] = by_prompt.emplace(prompt, groups.size());
    if (added) {
      GroupLayout g;
      g.prompt_rows = it.response_start;
      g.tokens.assign(it.tokens, it.tokens + it.response_start);
      groups.push_back(std::move(g));
      members.emplace_back();
    }
    members[pos->second].push_back(int64_t(i));
  }
  for (size_t gi = 0; gi < groups.size(); gi++) {
    GroupLayout& g = groups[gi];
    for (int64_t p = 0; p < g.prompt_rows; p++) g.positions.push_back(int32_t(p));
    for (const int64_t i : members[gi]) {
      const GroupItem& it = items[size_t(i)];
      const int64_t n = it.T - it.response_start;
      g.responses.push_back(GroupResponse{i, g.rows(), n});
      g.tokens.insert(g.tokens.end(), it.tokens + it.response_start, it.tokens + it.T);
      for (int64_t j = 0; j < n; j++) g.positions.push_back(int32_t(g.prompt_rows + j));
    }
  }
  return groups;
}

GroupLayout single_sequence(const int32_t* tokens, int64_t T) {
  GroupLayout g;
  g.prompt_rows = T;
  g.tokens.assign(tokens, tokens + T);
  for (int64_t p = 0; p < T; p++) g.positions.push_back(int32_t(p));
  return g;
}

int32_t max_position(const GroupLayout& g) {
  int32_t m = 0;
  for (const int32_t p : g.positions) m = std::max(m, p);
  return m;
}

}  // namespace spogw
