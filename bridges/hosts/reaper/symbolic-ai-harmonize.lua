-- symbolic-ai: harmonize the selected MIDI item: chords and an accompaniment on a new track.
-- Installed by `symbolic-ai hosts install reaper`; load it with Actions > New action > Load ReaScript.
local _, path = reaper.get_action_context()
local sai = dofile((path or ""):match("^(.*[/\\])") .. "symbolic-ai-common.lua")
sai.run("harmonize", {accompaniment = "block"})
