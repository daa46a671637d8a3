#include "tests/fault/checker.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <numeric>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dfs::fault {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int kNil = -1;
constexpr int kInitialState = -1;  // "producer" of the state before any operation
constexpr size_t kStatesKeptPerOp = 4;
constexpr size_t kPrefixShown = 25;

std::string Quote(absl::string_view value) {
  return absl::StrCat("'", absl::CHexEscape(value), "'");
}

// The search over one part. Events live in a doubly linked list (dancing links), so that
// linearizing an operation lifts its two events out and backtracking puts them back in O(1).
class Search {
 public:
  enum class Result { kLinearizable, kViolation, kGaveUp };

  Search(const Model& model, const std::vector<Operation>& ops) : model_(model), ops_(ops) {
    const int n = static_cast<int>(ops.size());
    // (time, 0 = invocation / 1 = completion, op). At equal times invocations come first: the
    // operations overlap, since "before" is complete_ns < invoke_ns.
    std::vector<std::tuple<int64_t, int, int>> events;
    for (int i = 0; i < n; ++i) {
      events.emplace_back(ops[i].invoke_ns, 0, i);
      events.emplace_back(ops[i].complete_ns, 1, i);
    }
    std::sort(events.begin(), events.end());
    nodes_.resize(events.size() + 1);
    nodes_[0] = Node{kNil, false, kNil, kNil, 1};  // head
    std::vector<int> call_node(n, kNil);
    for (size_t e = 0; e < events.size(); ++e) {
      int index = static_cast<int>(e) + 1;
      auto [time, type, op] = events[e];
      Node& node = nodes_[index];
      node.op = op;
      node.call = type == 0;
      node.prev = index - 1;
      node.next = e + 1 < events.size() ? index + 1 : kNil;
      if (node.call) {
        call_node[op] = index;
      } else {
        node.match = call_node[op];
        nodes_[call_node[op]].match = index;
      }
    }
    if (events.empty()) nodes_[0].next = kNil;
    tried_.resize(n);
  }

  // Runs until decided or out of budget (`steps` is decremented; the memo may use up to
  // `memo_budget_bytes`).
  Result Run(int64_t* steps, int64_t memo_budget_bytes,
             std::chrono::steady_clock::time_point deadline) {
    const size_t words = (ops_.size() + 63) / 64;
    std::vector<uint64_t> linearized(words, 0);
    std::string state = model_.Init();
    int producer = kInitialState;
    absl::flat_hash_set<std::string> memo;
    int64_t memo_bytes = 0;
    std::vector<Frame> stack;
    int node = nodes_[0].next;
    while (nodes_[0].next != kNil) {
      if (--*steps < 0) {
        gave_up_ = "the step budget ran out";
        return Result::kGaveUp;
      }
      if ((*steps & 1023) == 0 && std::chrono::steady_clock::now() > deadline) {
        gave_up_ = "the time limit ran out";
        return Result::kGaveUp;
      }
      const Node& entry = nodes_[node];
      const Operation& op = ops_[entry.op];
      if (entry.call) {
        std::string next;
        if (model_.Step(state, op, &next)) {
          linearized[entry.op / 64] |= uint64_t{1} << (entry.op % 64);
          std::string key(reinterpret_cast<const char*>(linearized.data()), words * 8);
          key += next;
          size_t key_size = key.size();
          if (memo.insert(std::move(key)).second) {
            memo_bytes += static_cast<int64_t>(key_size) + 48;
            if (memo_bytes > memo_budget_bytes) {
              gave_up_ = "the memory budget for remembered configurations ran out";
              return Result::kGaveUp;
            }
            int next_producer = next != state ? entry.op : producer;
            stack.push_back(Frame{node, std::move(state), producer});
            state = std::move(next);
            producer = next_producer;
            Lift(node);
            node = nodes_[0].next;
            continue;
          }
          linearized[entry.op / 64] &= ~(uint64_t{1} << (entry.op % 64));
        } else {
          RememberTried(entry.op, state, producer);
        }
        node = entry.next;
        continue;
      }
      // A completion: this operation had to be linearized by now.
      if (op.complete_ns == kNever) {
        // Every completion left is at +infinity: all that remains are operations of unknown
        // outcome, which need not take effect at all.
        return Result::kLinearizable;
      }
      if (static_cast<int>(stack.size()) > best_depth_) {
        best_depth_ = static_cast<int>(stack.size());
        best_prefix_.clear();
        for (const Frame& frame : stack) best_prefix_.push_back(nodes_[frame.call_node].op);
        best_state_ = state;
        stuck_ = entry.op;
      }
      if (stack.empty()) return Result::kViolation;
      Frame frame = std::move(stack.back());
      stack.pop_back();
      int op_index = nodes_[frame.call_node].op;
      linearized[op_index / 64] &= ~(uint64_t{1} << (op_index % 64));
      state = std::move(frame.state);
      producer = frame.producer;
      Unlift(frame.call_node);
      node = nodes_[frame.call_node].next;
    }
    return Result::kLinearizable;
  }

  // After a violation: the longest linearizable order found (indices into ops), the operation
  // that could not be placed after it, and the state it met there.
  const std::vector<int>& best_prefix() const { return best_prefix_; }
  int stuck() const { return stuck_; }
  const std::string& best_state() const { return best_state_; }
  // Distinct states `op` was tried in and refused, with the operation that set each one.
  const std::vector<std::pair<std::string, int>>& tried(int op) const { return tried_[op].states; }
  bool tried_more(int op) const { return tried_[op].more; }
  const std::string& gave_up() const { return gave_up_; }

 private:
  struct Node {
    int op = kNil;
    bool call = false;
    int match = kNil;  // the other event of the same operation
    int prev = kNil;
    int next = kNil;
  };
  struct Frame {
    int call_node;
    std::string state;  // before the operation
    int producer;       // the operation that set `state`
  };
  struct Tried {
    std::vector<std::pair<std::string, int>> states;
    bool more = false;
  };

  void Lift(int call) {
    Node& n = nodes_[call];
    nodes_[n.prev].next = n.next;
    if (n.next != kNil) nodes_[n.next].prev = n.prev;
    Node& m = nodes_[n.match];
    nodes_[m.prev].next = m.next;
    if (m.next != kNil) nodes_[m.next].prev = m.prev;
  }
  // Exactly undoes the Lift of the same node (they nest like a stack).
  void Unlift(int call) {
    int match = nodes_[call].match;
    Node& m = nodes_[match];
    nodes_[m.prev].next = match;
    if (m.next != kNil) nodes_[m.next].prev = match;
    Node& n = nodes_[call];
    nodes_[n.prev].next = call;
    if (n.next != kNil) nodes_[n.next].prev = call;
  }

  void RememberTried(int op, const std::string& state, int producer) {
    Tried& tried = tried_[op];
    for (const auto& [seen, unused] : tried.states) {
      if (seen == state) return;
    }
    if (tried.states.size() < kStatesKeptPerOp) {
      tried.states.emplace_back(state, producer);
    } else {
      tried.more = true;
    }
  }

  const Model& model_;
  const std::vector<Operation>& ops_;
  std::vector<Node> nodes_;
  std::vector<Tried> tried_;
  int best_depth_ = -1;
  std::vector<int> best_prefix_;
  std::string best_state_;
  int stuck_ = kNil;
  std::string gave_up_;
};

std::string Explain(const Model& model, const Partition& part, const std::vector<Operation>& all,
                    const std::vector<Operation>& ops, const Search& search, int64_t base_ns) {
  const Operation& stuck = ops[search.stuck()];
  std::string stuck_line = FormatOperation(stuck, base_ns);
  std::vector<std::string> states;
  for (const auto& [state, producer] : search.tried(search.stuck())) {
    std::string line = model.DescribeState(state);
    if (producer == kInitialState) {
      absl::StrAppend(&line, " (the initial state)");
    } else {
      const Operation& by = ops[producer];
      absl::StrAppend(&line, " (set by ", FormatOperation(by, base_ns),
                      by.complete_ns < stuck.invoke_ns ? ", which completed before it was invoked"
                                                       : ", concurrent with it",
                      ")");
    }
    states.push_back(std::move(line));
  }
  if (search.tried_more(search.stuck())) states.push_back("and more");

  std::string text = absl::StrCat("not linearizable (", model.Name(), " model, ", part.label,
                                  "): ", stuck_line, " cannot be linearized: ");
  if (states.empty()) {
    absl::StrAppend(&text, "no order of the operations before it leaves room for it");
  } else {
    absl::StrAppend(&text, "the only states possible before it were ", absl::StrJoin(states, "; "));
  }
  absl::StrAppend(&text, "\n");
  std::string note = model.Diagnose(all, stuck);
  if (!note.empty()) absl::StrAppend(&text, "  note: ", note, "\n");

  const std::vector<int>& prefix = search.best_prefix();
  absl::StrAppend(&text, "longest linearizable order found (", prefix.size(), " of ", ops.size(),
                  " operations of this part):\n");
  size_t first = prefix.size() > kPrefixShown ? prefix.size() - kPrefixShown : 0;
  if (first > 0) absl::StrAppend(&text, "  ... ", first, " earlier operations\n");
  for (size_t i = first; i < prefix.size(); ++i) {
    absl::StrAppend(&text, "  ", i + 1, ". ", FormatOperation(ops[prefix[i]], base_ns), "\n");
  }
  absl::StrAppend(&text, "then ", stuck_line,
                  " cannot come next: ", model.WhyNot(search.best_state(), stuck), "\n");
  return text;
}

}  // namespace

std::vector<Partition> Model::Split(const std::vector<Operation>& ops) const {
  Partition all{"all operations", std::vector<size_t>(ops.size())};
  std::iota(all.ops.begin(), all.ops.end(), 0);
  return {all};
}

std::string Model::DescribeState(const std::string& state) const { return Quote(state); }

std::string Model::WhyNot(const std::string& state, const Operation& op) const {
  return absl::StrCat("the model refuses it in state ", DescribeState(state));
}

std::vector<Partition> PartitionByKey(const std::vector<Operation>& ops) {
  std::map<std::string, size_t> index;
  std::vector<Partition> parts;
  for (size_t i = 0; i < ops.size(); ++i) {
    auto [it, inserted] = index.emplace(ops[i].key, parts.size());
    if (inserted) parts.push_back(Partition{absl::StrCat("key ", ops[i].key), {}});
    parts[it->second].ops.push_back(i);
  }
  return parts;
}

const char* VerdictName(Verdict verdict) {
  static const char* const kNames[] = {"linearizable", "not linearizable",
                                       "unknown (gave up)"};  // in Verdict's order
  return kNames[static_cast<int>(verdict)];
}

absl::StatusOr<CheckResult> CheckLinearizable(const Model& model,
                                              const std::vector<Operation>& history,
                                              const CheckOptions& options) {
  int64_t base_ns = kNever;
  for (size_t i = 0; i < history.size(); ++i) {
    const Operation& op = history[i];
    if (op.complete_ns < op.invoke_ns) {
      return absl::InvalidArgumentError(
          absl::StrCat("operation ", i, " completes before it is invoked: ", FormatOperation(op)));
    }
    if (op.outcome == Outcome::kOk && op.complete_ns == kNever) {
      return absl::InvalidArgumentError(
          absl::StrCat("operation ", i, " is ok but never completed: ", FormatOperation(op)));
    }
    absl::Status valid = model.Validate(op);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("operation ", i, " (", FormatOperation(op), "): ", valid.message()));
    }
    base_ns = std::min(base_ns, op.invoke_ns);
  }

  CheckResult result;
  std::vector<Partition> parts = model.Split(history);
  // Small parts first: a violation in one of them is found before a big part eats the budget.
  std::stable_sort(parts.begin(), parts.end(), [](const Partition& a, const Partition& b) {
    return a.ops.size() < b.ops.size();
  });
  result.partitions = static_cast<int>(parts.size());
  int64_t steps_left = options.max_steps;
  auto deadline =
      options.time_limit == absl::InfiniteDuration()
          ? std::chrono::steady_clock::time_point::max()
          : std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(options.time_limit);
  std::string gave_up;
  for (const Partition& part : parts) {
    std::vector<Operation> all;  // every operation of the part, for diagnosis
    std::vector<Operation> ops;  // those the search considers
    for (size_t i : part.ops) {
      const Operation& op = history[i];
      all.push_back(op);
      if (op.outcome == Outcome::kFail) continue;
      if (op.outcome == Outcome::kUnknown && model.ReadOnly(op)) continue;
      ops.push_back(op);
    }
    model.Prune(&ops);
    Search search(model, ops);
    int64_t before = steps_left;
    Search::Result verdict = search.Run(&steps_left, options.max_memo_bytes, deadline);
    result.steps += before - std::max<int64_t>(steps_left, 0);
    if (verdict == Search::Result::kViolation) {
      result.verdict = Verdict::kNotLinearizable;
      result.partition = part.label;
      for (int i : search.best_prefix()) result.longest_prefix.push_back(ops[i]);
      result.stuck = ops[search.stuck()];
      result.explanation = Explain(model, part, all, ops, search, base_ns);
      return result;
    }
    if (verdict == Search::Result::kGaveUp) {
      int64_t unknown = std::count_if(ops.begin(), ops.end(), [](const Operation& op) {
        return op.outcome == Outcome::kUnknown;
      });
      absl::StrAppend(&gave_up, "gave up on ", part.label, " (", ops.size(), " operations, ",
                      unknown, " of unknown outcome): ", search.gave_up(), "\n");
      // The remaining parts could still show a violation, but only with budget left.
      if (steps_left <= 0 || std::chrono::steady_clock::now() > deadline) break;
    }
  }
  if (!gave_up.empty()) {
    result.verdict = Verdict::kUnknown;
    result.explanation =
        absl::StrCat("unknown: no violation found, but the search was not finished (", result.steps,
                     " steps)\n", gave_up);
  }
  return result;
}

// ---- registers ----

namespace {
// A register's state: "" if it does not exist, else "=" followed by its value.
bool Exists(const std::string& state) { return !state.empty(); }
bool IsWrite(const Operation& op) { return op.kind == "write" || op.kind == "put"; }
bool IsRead(const Operation& op) { return op.kind == "read" || op.kind == "get"; }
std::string Value(const std::string& state) { return state.substr(1); }
}  // namespace

std::string RegisterModel::Init() const { return ""; }

absl::Status RegisterModel::Validate(const Operation& op) const {
  if (IsWrite(op) || IsRead(op)) return absl::OkStatus();
  if (op.kind == "delete") {
    if (op.outcome == Outcome::kOk && op.output != "ok" && op.output != "ENOENT") {
      return absl::InvalidArgumentError("a delete returns ok or ENOENT");
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("a register has no operation '", op.kind, "'"));
}

bool RegisterModel::Step(const std::string& state, const Operation& op, std::string* next) const {
  bool known = op.outcome == Outcome::kOk;
  if (IsWrite(op)) {
    *next = "=" + op.input;
    return true;
  }
  if (IsRead(op)) {
    *next = state;
    return !known || op.output == (Exists(state) ? Value(state) : "ENOENT");
  }
  if (op.kind == "delete") {
    next->clear();
    return !known || op.output == (Exists(state) ? "ok" : "ENOENT");
  }
  return false;
}

bool RegisterModel::ReadOnly(const Operation& op) const { return IsRead(op); }

void RegisterModel::Prune(std::vector<Operation>* ops) const {
  // An unknown write of a value no read returned can be left out: in any linearization with it,
  // no read sits between it and the next write, so without it every read still sees what it
  // saw. Not so with deletes, whose result depends on whether the register exists.
  std::set<std::string> observed;
  for (const Operation& op : *ops) {
    if (op.kind == "delete") return;
    if (IsRead(op) && op.outcome == Outcome::kOk) observed.insert(op.output);
  }
  ops->erase(std::remove_if(ops->begin(), ops->end(),
                            [&](const Operation& op) {
                              return IsWrite(op) && op.outcome == Outcome::kUnknown &&
                                     observed.count(op.input) == 0;
                            }),
             ops->end());
}

std::string RegisterModel::DescribeState(const std::string& state) const {
  return Exists(state) ? Quote(Value(state)) : "no file (ENOENT)";
}

std::string RegisterModel::WhyNot(const std::string& state, const Operation& op) const {
  if (!Exists(state)) return "the register did not exist (ENOENT)";
  return absl::StrCat("the register held ", Quote(Value(state)));
}

std::string RegisterModel::Diagnose(const std::vector<Operation>& ops,
                                    const Operation& stuck) const {
  if (!IsRead(stuck) || stuck.output == "ENOENT") return "";
  std::vector<std::string> failed;
  for (const Operation& op : ops) {
    if (!IsWrite(op) || op.input != stuck.output) continue;
    if (op.outcome != Outcome::kFail) return "";
    failed.push_back(FormatOperation(op));
  }
  if (failed.empty()) {
    return absl::StrCat("no operation ever wrote ", Quote(stuck.output), " to ", stuck.key);
  }
  return absl::StrCat(Quote(stuck.output),
                      " was written only by operations that failed: ", absl::StrJoin(failed, "; "));
}

// ---- a shared directory ----

namespace {
// The directory's state: its names, sorted, joined by '/' (which no name contains).
std::vector<std::string> Names(const std::string& state) {
  if (state.empty()) return {};
  return absl::StrSplit(state, '/');
}
std::string Encode(const std::vector<std::string>& names) { return absl::StrJoin(names, "/"); }
bool Has(const std::vector<std::string>& names, const std::string& name) {
  return std::binary_search(names.begin(), names.end(), name);
}
void Add(std::vector<std::string>* names, const std::string& name) {
  auto it = std::lower_bound(names->begin(), names->end(), name);
  if (it == names->end() || *it != name) names->insert(it, name);
}
void Remove(std::vector<std::string>* names, const std::string& name) {
  auto it = std::lower_bound(names->begin(), names->end(), name);
  if (it != names->end() && *it == name) names->erase(it);
}
}  // namespace

std::string DirectoryModel::Init() const {
  return Encode(std::vector<std::string>(initial_.begin(), initial_.end()));
}

absl::Status DirectoryModel::Validate(const Operation& op) const {
  auto valid_name = [](const std::string& name) {
    return !name.empty() && name.find('/') == std::string::npos;
  };
  if (!valid_name(op.key)) return absl::InvalidArgumentError("a name is non-empty, without '/'");
  std::vector<std::string> outputs;
  if (op.kind == "create") {
    outputs = {"ok", "EEXIST"};
  } else if (op.kind == "unlink") {
    outputs = {"ok", "ENOENT"};
  } else if (op.kind == "rename") {
    if (!valid_name(op.input)) return absl::InvalidArgumentError("a rename's target is a name");
    outputs = {"ok", "ENOENT"};
  } else if (op.kind == "stat") {
    outputs = {"exists", "ENOENT"};
  } else {
    return absl::InvalidArgumentError(absl::StrCat("a directory has no operation '", op.kind, "'"));
  }
  if (op.outcome == Outcome::kOk &&
      std::find(outputs.begin(), outputs.end(), op.output) == outputs.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op.kind, " returns ", absl::StrJoin(outputs, " or ")));
  }
  return absl::OkStatus();
}

bool DirectoryModel::Step(const std::string& state, const Operation& op, std::string* next) const {
  std::vector<std::string> names = Names(state);
  bool exists = Has(names, op.key);
  std::string output;
  if (op.kind == "create") {
    output = exists ? "EEXIST" : "ok";
    Add(&names, op.key);
  } else if (op.kind == "unlink") {
    output = exists ? "ok" : "ENOENT";
    Remove(&names, op.key);
  } else if (op.kind == "rename") {
    output = exists ? "ok" : "ENOENT";
    if (exists) {
      Remove(&names, op.key);
      Add(&names, op.input);
    }
  } else if (op.kind == "stat") {
    output = exists ? "exists" : "ENOENT";
  } else {
    return false;
  }
  if (op.outcome == Outcome::kOk && op.output != output) return false;
  *next = Encode(names);
  return true;
}

std::vector<Partition> DirectoryModel::Split(const std::vector<Operation>& ops) const {
  // Union-find over names; a rename joins its source and target.
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& name) {
    auto it = parent.find(name);
    if (it == parent.end()) {
      parent[name] = name;
      return name;
    }
    if (it->second == name) return name;
    std::string root = find(it->second);
    parent[name] = root;
    return root;
  };
  for (const Operation& op : ops) {
    std::string a = find(op.key);
    if (op.kind == "rename") {
      std::string b = find(op.input);
      if (a != b) parent[b] = a;
    }
  }
  std::map<std::string, Partition> by_root;
  std::map<std::string, std::set<std::string>> names_of_root;
  for (size_t i = 0; i < ops.size(); ++i) {
    std::string root = find(ops[i].key);
    by_root[root].ops.push_back(i);
    names_of_root[root].insert(ops[i].key);
    if (ops[i].kind == "rename") names_of_root[root].insert(ops[i].input);
  }
  std::vector<Partition> parts;
  for (auto& [root, part] : by_root) {
    part.label = absl::StrCat("names {", absl::StrJoin(names_of_root[root], ", "), "}");
    parts.push_back(std::move(part));
  }
  return parts;
}

std::string DirectoryModel::DescribeState(const std::string& state) const {
  return absl::StrCat("{", absl::StrJoin(Names(state), ", "), "}");
}

std::string DirectoryModel::WhyNot(const std::string& state, const Operation& op) const {
  std::vector<std::string> names = Names(state);
  bool exists = Has(names, op.key);
  return absl::StrCat("'", op.key, "' ", exists ? "existed" : "did not exist",
                      " (names then: ", DescribeState(state), ")");
}

}  // namespace dfs::fault
