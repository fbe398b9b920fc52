// The number syntax of every numeric option (sim/config/options.h): decimal integers, decimal
// numbers with an optional exponent; no hexadecimal, no inf/nan, nothing after the number (a NUL
// byte included). Accepted text reads exactly as strtol/strtod read it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "sim/config/options.h"
#include "sim/core/error.h"

namespace sim {
namespace {

TEST(NumberSyntaxTest, DecimalIntegers) {
  long v = 0;
  EXPECT_TRUE(ParseDecimalInt("42", &v));
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(ParseDecimalInt("-7", &v));
  EXPECT_EQ(v, -7);
  EXPECT_TRUE(ParseDecimalInt("+3", &v));
  EXPECT_EQ(v, 3);
  EXPECT_TRUE(ParseDecimalInt("007", &v));
  EXPECT_EQ(v, 7);
  for (const char* bad :
       {"", "-", "+", "0x10", "1e3", "1.0", "1 ", " 1", "12abc", "inf", "nan", "99999999999999999999"})
    EXPECT_FALSE(ParseDecimalInt(bad, &v)) << "'" << bad << "'";
  EXPECT_FALSE(ParseDecimalInt(std::string("3\0junk", 7), &v));
}

TEST(NumberSyntaxTest, DecimalNumbers) {
  double v = 0;
  for (const char* good : {"3e-3", "1e-3", "0.001", "1.", ".5", "-2.5E+2", "+1", "7", "0", "1e300"}) {
    ASSERT_TRUE(ParseDecimalNumber(good, &v)) << good;
    EXPECT_EQ(v, std::strtod(good, nullptr)) << good;  // the same bits as before the syntax check
  }
  for (const char* bad : {"", ".", "e3", "1e", "1e+", "0x10", "0x1p3", "inf", "-inf", "nan", "NaN", "1e999", "1.2.3",
                          "1,5", "1 ", " 1", "--1", "1e-400", "infinity"})
    EXPECT_FALSE(ParseDecimalNumber(bad, &v)) << "'" << bad << "'";
  EXPECT_FALSE(ParseDecimalNumber(std::string("0.5\0junk", 8), &v));
}

TEST(NumberSyntaxTest, ExcerptCutsLongValuesAndShowsControlBytes) {
  EXPECT_EQ(Excerpt("abc"), "abc");
  EXPECT_EQ(Excerpt(std::string("a\0b", 3)), "a\\x00b");
  const std::string huge(10'000'000, '9');
  const std::string shown = Excerpt(huge);
  EXPECT_EQ(shown, std::string(80, '9') + "... (10000000 characters)");
}

// Options reads every numeric key through that syntax and names the key in the error.
TEST(NumberSyntaxTest, OptionsRejectHexInfNanAndEmbeddedNul) {
  OptionSet set;
  set.Declare({"train.lr", "1e-3", "", ""});
  set.Declare({"train.steps", "10", "", ""});
  set.Declare({"model.heads", "4", "", ""});
  Options options(set, {{"train.lr", "0x10"}, {"train.steps", std::string("3\0junk", 7)}, {"model.heads", "2,0x4"}});
  options.Double("train.lr", 0, 1e9);
  options.Int("train.steps", 0, 100);
  options.IntList("model.heads", 1, 64);
  ASSERT_EQ(options.errors().size(), 3u);
  EXPECT_NE(options.errors()[0].find("train.lr: expected a number"), std::string::npos) << options.errors()[0];
  EXPECT_NE(options.errors()[0].find("given '0x10'"), std::string::npos);
  EXPECT_NE(options.errors()[1].find("train.steps: expected an integer"), std::string::npos);
  EXPECT_NE(options.errors()[1].find("3\\x00junk"), std::string::npos) << options.errors()[1];
  EXPECT_NE(options.errors()[2].find("model.heads"), std::string::npos);

  Options nan_options(set, {{"train.lr", "nan"}, {"train.steps", "1e1"}});
  nan_options.Double("train.lr", 0, 1e9);
  nan_options.Int("train.steps", 0, 100);
  EXPECT_EQ(nan_options.errors().size(), 2u);
}

TEST(NumberSyntaxTest, ValidValuesReadAsBefore) {
  OptionSet set;
  set.Declare({"train.lr", "3e-3", "", ""});
  set.Declare({"train.steps", "3000", "", ""});
  Options options(set, {{"train.lr", " 3e-3 "}});
  EXPECT_EQ(options.Double("train.lr", 0, 1e9), std::strtod("3e-3", nullptr));
  EXPECT_EQ(options.Int("train.steps", 0, 10000), 3000);
  EXPECT_TRUE(options.errors().empty());
}

}  // namespace
}  // namespace sim
