// Command-line and INI parsing with Boost.Program_options: the only code that includes it.
//
// Every declared option (model.d_model, task.vocab, ...) is accepted on the command line as
// --section.key=value and in INI files as `key = value` under `[section]`. The command line is
// stored first, so it wins over files; a later --config file wins over an earlier one. Keys and
// flags match exactly (no prefixes); unknown ones are errors that name up to three nearest valid keys.
#pragma once

#include <boost/program_options.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sim/config/options.h"

namespace sim {

namespace po = boost::program_options;

// Boost's command-line style without prefix guessing: every parser in sim/cli uses it, so
// --model.layer=2 is an unknown option (naming model.layers) rather than a silent model.layers = 2,
// and --confi is not --config. (INI files always match keys exactly; OptionSet::RequireDeclared is
// the check for keys read outside Boost, such as a [sweep] section's.)
inline constexpr int kExactKeysStyle = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;

// A line of a config file's [sweep] section.
struct SweepLine {
  std::string file;
  int line = 0;
  std::string text;
};

struct ParsedCommand {
  po::variables_map flags;                   // the command's own flags
  std::map<std::string, std::string> given;  // option values set by the user
  std::set<std::string> command_line;        // keys of `given` set on the command line
};

// Parses `args` (without the program and command names) against the command's own flags plus every
// option of `set` (when with_options), then reads the INI files named by --config (if the command
// has that flag). A [sweep] section is handed to `sweep` (sim sweep) or is an error (null).
// Throws ConfigError / InputError with actionable messages.
ParsedCommand ParseCommand(const std::string& command, const std::vector<std::string>& args,
                           const po::options_description& own_flags, const OptionSet& set, bool with_options,
                           std::vector<SweepLine>* sweep = nullptr);

// The option values of INI text (a run file's resolved config), keys as in `set`. Throws ConfigError.
std::map<std::string, std::string> ParseIniText(const std::string& text, const OptionSet& set);

// Help text listing every option with its default, by section, task options grouped by task.
std::string OptionsHelp(const OptionSet& set);

}  // namespace sim
