// ictemplate's definition, checked by a brute-force solver (issue #25; ../specs/depth.md §3 T4).
//
// The solver knows nothing of template pools or the generator: for every scored position (an OUT)
// it takes the L tokens before it (the query instance s*), compares their equality pattern — which
// pairs of positions hold the same token — with that of every context segment s_1..s_m, and answers
// with the label token after the segment that matches. The task is well defined when exactly one
// segment matches and its label is the target; the tests assert both on every prompt of several
// (m, k, L) settings and every split (train with k queries, test_id and test_ood with one).
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "tasks/ictemplate.h"

namespace sim {
namespace {

// Whether tokens a[0..L) and b[0..L) have the same equality pattern (a_i == a_j iff b_i == b_j).
bool SamePattern(const int32_t* a, const int32_t* b, int length) {
  for (int i = 0; i < length; ++i)
    for (int j = i + 1; j < length; ++j)
      if ((a[i] == a[j]) != (b[i] == b[j])) return false;
  return true;
}

struct Solved {
  int matches = 0;     // context segments whose pattern equals the query's
  int32_t label = -1;  // the class after the (last) matching segment
};

// Answers the query segment that ends at position `out` (its OUT) of one prompt.
Solved Solve(const int32_t* tokens, int out, const IctemplateConfig& c) {
  const int seg = c.length + 1;
  const int32_t* query = tokens + out - c.length;
  Solved s;
  for (int j = 0; j < c.pairs; ++j) {
    if (!SamePattern(tokens + j * seg, query, c.length)) continue;
    ++s.matches;
    s.label = tokens[j * seg + c.length] - c.vocab;
  }
  return s;
}

void CheckSolverAgrees(const IctemplateConfig& c, int prompts) {
  IctemplateTask task(c);
  const TaskInfo& info = task.info();
  const int seg = c.length + 1, t_len = info.length;
  const int32_t out_token = c.vocab + c.labels;
  SCOPED_TRACE(::testing::Message() << "m=" << c.pairs << " k=" << c.n_queries << " L=" << c.length
                                    << " templates_train=" << c.templates_train);
  for (int split = 0; split < static_cast<int>(info.splits.size()); ++split) {
    SCOPED_TRACE(info.splits[split]);
    Rng rng = Rng::ForStream(11, "solver/" + info.splits[split]);
    Batch batch;
    task.Sample(split, rng, prompts, batch);
    batch.Validate(c.labels);
    const int queries = split == 0 ? c.n_queries : 1;
    ASSERT_EQ(batch.n_scored(), prompts * queries);
    int wrong = 0, not_unique = 0;
    for (int s = 0; s < batch.n_scored(); ++s) {
      const int b = batch.scored[s] / t_len, t = batch.scored[s] % t_len;
      const int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * t_len;
      ASSERT_EQ(t % seg, c.length) << "scored positions are OUT positions";
      ASSERT_GE(t / seg, c.pairs) << "after the context";
      ASSERT_EQ(tokens[t], out_token);
      // The context's labels are distinct label tokens, its fillers filler tokens.
      std::set<int32_t> labels;
      for (int j = 0; j < c.pairs; ++j) {
        for (int i = 0; i < c.length; ++i) ASSERT_LT(tokens[j * seg + i], c.vocab);
        labels.insert(tokens[j * seg + c.length]);
      }
      ASSERT_EQ(static_cast<int>(labels.size()), c.pairs);
      ASSERT_GE(*labels.begin(), c.vocab);
      ASSERT_LT(*labels.rbegin(), c.vocab + c.labels);
      const Solved solved = Solve(tokens, t, c);
      not_unique += solved.matches != 1;
      wrong += solved.label != batch.labels[s];
    }
    EXPECT_EQ(not_unique, 0) << "prompts whose query matches no or several context segments";
    EXPECT_EQ(wrong, 0) << "prompts whose solved answer is not the target";
  }
}

TEST(IctemplateSolverTest, StudySizesOneQuery) { CheckSolverAgrees({32, 8, 4, 6, 10, 1}, 2000); }

TEST(IctemplateSolverTest, StudySizesFourQueries) { CheckSolverAgrees({32, 8, 4, 6, 10, 4}, 1000); }

TEST(IctemplateSolverTest, TwoPairsTwoQueries) { CheckSolverAgrees({32, 8, 2, 6, 10, 2}, 2000); }

TEST(IctemplateSolverTest, LengthFourTemplatesHaveNoHeldOutSplit) {
  const IctemplateConfig c{32, 8, 2, 4, 3, 2};
  EXPECT_EQ(IctemplateTask(c).info().splits, (std::vector<std::string>{"train", "test_id"}));
  CheckSolverAgrees(c, 2000);
}

TEST(IctemplateSolverTest, LengthEightManyPairs) { CheckSolverAgrees({16, 12, 6, 8, 60, 3}, 500); }

TEST(IctemplateSolverTest, PaddedPrompts) { CheckSolverAgrees({32, 8, 2, 6, 10, 2, 56}, 1000); }

// The solver is not vacuous: a prompt whose query pattern is changed (two of its tokens made equal
// where they were not) matches no segment, and one whose query copies another segment's pattern
// is answered with that segment's label.
TEST(IctemplateSolverTest, SolverNoticesAChangedQuery) {
  const IctemplateConfig c{32, 8, 4, 6, 10, 1};
  IctemplateTask task(c);
  Rng rng = Rng::ForStream(12, "solver/edit");
  Batch batch;
  task.Sample(1, rng, 200, batch);
  const int t_len = task.info().length, seg = 7, out = 4 * seg + 6;
  for (int b = 0; b < 200; ++b) {
    std::vector<int32_t> tokens(batch.tokens.begin() + b * t_len, batch.tokens.begin() + (b + 1) * t_len);
    const Solved solved = Solve(tokens.data(), out, c);
    ASSERT_EQ(solved.matches, 1);
    int j = 0;
    while (tokens[j * seg + 6] - c.vocab == solved.label) ++j;  // another segment
    std::copy(tokens.begin() + j * seg, tokens.begin() + j * seg + 6, tokens.begin() + 4 * seg);
    const Solved other = Solve(tokens.data(), out, c);
    EXPECT_EQ(other.matches, 1);
    EXPECT_EQ(other.label, tokens[j * seg + 6] - c.vocab);
    // Three equal tokens are no pairing template.
    int32_t* query = tokens.data() + 4 * seg;
    int i = 1;
    while (query[i] == query[0]) ++i;
    query[i] = query[0];
    EXPECT_EQ(Solve(tokens.data(), out, c).matches, 0);
  }
}

}  // namespace
}  // namespace sim
