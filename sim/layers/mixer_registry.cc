// The table of sequence mixers that `model.mixer` chooses from. Adding a mixer: its file pair in
// sim/layers/ (a Mixer subclass and a function returning its MixerEntry) and one line here; the
// conformance suite (tests/sim/layers/mixer_conformance_*test.cc) then checks it. docs/extending.md.
#include <algorithm>

#include "sim/layers/mixer.h"
#include "sim/layers/self_attention.h"

namespace sim {

const std::vector<MixerEntry>& MixerRegistry() {
  static const std::vector<MixerEntry> entries = {
      AttentionMixerEntry(),
  };
  return entries;
}

const MixerEntry* FindMixer(const std::string& name) {
  for (const MixerEntry& e : MixerRegistry())
    if (e.name == name) return &e;
  return nullptr;
}

std::string MixerNames(const std::string& separator) {
  std::string names;
  for (const MixerEntry& e : MixerRegistry()) names += (names.empty() ? "" : separator) + e.name;
  return names;
}

bool MixerEntry::Supports(MixerHook hook) const { return std::find(hooks.begin(), hooks.end(), hook) != hooks.end(); }

}  // namespace sim
