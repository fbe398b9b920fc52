#include "sim/cli/cli_options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {

namespace {

po::options_description KeyDescription(const OptionSet& set) {
  po::options_description desc;
  for (const std::string& key : set.Keys()) desc.add_options()(key.c_str(), po::value<std::string>());
  return desc;
}

std::string StripDashes(std::string name) {
  while (!name.empty() && name.front() == '-') name.erase(name.begin());
  const size_t eq = name.find('=');
  if (eq != std::string::npos) name.resize(eq);
  return name;
}

[[noreturn]] void ThrowUnknown(const std::string& command, const std::string& raw_name, const std::string& where,
                               const OptionSet& set, const po::options_description& own_flags, bool in_file) {
  const std::string name = StripDashes(raw_name);
  // A key written outside any [section] of an INI file: suggest the sections that have it.
  if (in_file && name.find('.') == std::string::npos) {
    std::string owners;
    for (const std::string& key : set.Keys())
      if (key.size() > name.size() && key.compare(key.size() - name.size() - 1, std::string::npos, "." + name) == 0)
        owners += (owners.empty() ? "" : " or ") + Concat("[", key.substr(0, key.find('.')), "]");
    if (!owners.empty())
      throw ConfigError(Concat("key '", Excerpt(name), "'", where, " is outside any section; put it under ", owners));
  }
  std::vector<std::string> candidates = set.Keys();
  if (!in_file)  // the command's own flags (--out, --config) are not INI keys
    for (const auto& opt : own_flags.options()) candidates.push_back(opt->long_name());
  const std::string help = command == "train" || in_file ? "sim train --help lists every option"
                           : set.Keys().empty()
                               ? Concat("sim ", command, " --help lists its flags")
                               : Concat("sim ", command, " --help lists its flags; sim train --help every option");
  throw ConfigError(
      Concat("unknown option '", Excerpt(name), "'", where, DidYouMean(name, candidates), " (", help, ")"));
}

// Boost's messages quote the value they reject ("the argument ('...') for option '--x' is invalid"):
// every quoted part goes through Excerpt, so a 10 MB value is not echoed whole.
std::string ShortenQuoted(const std::string& message) {
  std::string out;
  size_t start = 0;
  bool inside = false;
  while (start <= message.size()) {
    size_t quote = message.find('\'', start);
    if (quote == std::string::npos) quote = message.size();
    const std::string_view part(message.data() + start, quote - start);
    out += inside ? Excerpt(part) : std::string(part);
    if (quote < message.size()) out += '\'';
    inside = !inside;
    start = quote + 1;
  }
  return out;
}

// The text of an INI file given with --config. A directory is refused (std::ifstream opens one and
// reads it as an empty file, which would silently train on all defaults); so is a NUL byte, which
// would cut a value short where the parser reads it as a C string. Pipes (--config <(...)) are fine.
std::string ReadConfigFile(const std::string& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw InputError(Concat("--config ", Excerpt(file), ": is a directory; expected an INI file"));
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw InputError(Concat("--config ", Excerpt(file), ": cannot read config file (", std::strerror(errno), ")"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(Concat("--config ", Excerpt(file), ": cannot read config file (read error)"));
  std::string text = buffer.str();
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    const long line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(nul), '\n');
    throw ConfigError(Concat(Excerpt(file), ":", line, ": contains a NUL byte; expected a text INI file"));
  }
  return text;
}

// Flags typed double (--checkpoint-every, --seconds, ...) go through Boost's lexical_cast, which
// accepts nan and inf: a flag's value must be a finite number.
void RequireFiniteFlags(const po::variables_map& flags) {
  for (const auto& [name, value] : flags) {
    if (value.defaulted()) continue;
    const double* number = boost::any_cast<double>(&value.value());
    if (number != nullptr && !std::isfinite(*number))
      throw ConfigError(Concat("--", name, ": expected a finite number (given ", *number, ")"));
  }
}

}  // namespace

// Splits INI text into the [sweep] section's lines (with their line numbers) and everything else.
void SplitSweepSection(const std::string& text, std::string& rest, std::vector<std::pair<int, std::string>>& sweep) {
  std::istringstream in(text);
  std::string line;
  bool in_sweep = false;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string trimmed = Trim(line);
    if (!trimmed.empty() && trimmed.front() == '[') in_sweep = trimmed == "[sweep]";
    if (in_sweep) {
      if (trimmed != "[sweep]") sweep.emplace_back(number, line);
      rest += "\n";  // keep line numbers of the rest
    } else {
      rest += line + "\n";
    }
  }
}

ParsedCommand ParseCommand(const std::string& command, const std::vector<std::string>& args,
                           const po::options_description& own_flags, const OptionSet& set, bool with_options,
                           std::vector<SweepLine>* sweep) {
  ParsedCommand result;
  po::options_description keys = with_options ? KeyDescription(set) : po::options_description();
  po::options_description all;
  all.add(own_flags);
  if (with_options) all.add(keys);
  try {
    po::parsed_options parsed = po::command_line_parser(args).options(all).style(kExactKeysStyle).run();
    // Without a positional description, Boost keeps a bare argument as an option with no name and
    // po::store silently drops it: reject it here (e.g. a second INI file given without --config).
    for (const po::option& opt : parsed.options)
      if (opt.string_key.empty()) {
        const std::string extra = opt.original_tokens.empty() ? "" : opt.original_tokens.front();
        const std::string hint = with_options
                                     ? "options are written --section.key=value; each INI file needs its own --config"
                                     : Concat("sim ", command, " --help lists its arguments");
        throw ConfigError(Concat("sim ", command, ": unexpected argument '", Excerpt(extra), "' (", hint, ")"));
      }
    po::store(parsed, result.flags);
    if (with_options)
      for (const std::string& key : set.Keys())
        if (result.flags.count(key)) result.command_line.insert(key);
  } catch (const po::unknown_option& e) {
    ThrowUnknown(command, e.get_option_name(), " on the command line", set, own_flags, false);
  } catch (const po::error& e) {
    throw ConfigError(Concat("sim ", command, ": ", ShortenQuoted(e.what())));
  }
  RequireFiniteFlags(result.flags);
  if (with_options && result.flags.count("config")) {
    std::vector<std::string> files = result.flags["config"].as<std::vector<std::string>>();
    std::reverse(files.begin(), files.end());  // the first stored value wins: later files first
    for (const std::string& file : files) {
      const std::string text = ReadConfigFile(file);
      std::string rest;
      std::vector<std::pair<int, std::string>> sweep_lines;
      SplitSweepSection(text, rest, sweep_lines);
      if (!sweep_lines.empty() && sweep == nullptr)
        throw ConfigError(Concat(file, ": has a [sweep] section; run it with sim sweep --config ", file));
      if (sweep != nullptr)
        for (const auto& [number, line] : sweep_lines) sweep->push_back({file, number, line});
      std::istringstream body(rest);
      try {
        po::store(po::parse_config_file(body, keys, /*allow_unregistered=*/false), result.flags);
      } catch (const po::unknown_option& e) {
        ThrowUnknown(command, e.get_option_name(), " in " + file, set, own_flags, true);
      } catch (const po::error& e) {
        throw ConfigError(Concat(file, ": ", ShortenQuoted(e.what())));
      }
    }
  }
  po::notify(result.flags);
  if (with_options)
    for (const std::string& key : set.Keys())
      if (result.flags.count(key)) result.given[key] = result.flags[key].as<std::string>();
  return result;
}

std::map<std::string, std::string> ParseIniText(const std::string& text, const OptionSet& set) {
  po::variables_map values;
  std::istringstream in(text);
  try {
    po::store(po::parse_config_file(in, KeyDescription(set), /*allow_unregistered=*/false), values);
  } catch (const po::error& e) {
    throw ConfigError(ShortenQuoted(e.what()));
  }
  std::map<std::string, std::string> given;
  for (const std::string& key : set.Keys())
    if (values.count(key)) given[key] = values[key].as<std::string>();
  return given;
}

std::string OptionsHelp(const OptionSet& set) {
  std::ostringstream out;
  std::string current_group;
  auto print = [&](const OptionDecl& d) {
    std::string flag = "  --" + d.key + "=" + (d.default_value.empty() ? "\"\"" : d.default_value);
    if (flag.size() < 34)
      flag.resize(34, ' ');
    else
      flag += "\n" + std::string(34, ' ');
    out << flag << d.help << "\n";
  };
  for (const OptionDecl& d : set.decls()) {
    if (!d.owner.empty()) continue;
    const std::string group = d.key.substr(0, d.key.find('.'));
    if (group != current_group) {
      out << "\n[" << group << "]\n";
      current_group = group;
      if (group == "task") {
        // Each task's own options right after task.name.
        print(d);
        std::string owner;
        for (const OptionDecl& t : set.decls()) {
          if (t.owner.empty()) continue;
          if (t.owner != owner) {
            owner = t.owner;
            out << "  task " << owner.substr(5) << ":\n";
          }
          print(t);
        }
        continue;
      }
    }
    print(d);
  }
  return out.str();
}

}  // namespace sim
