-- symbolic-ai: the emotion (happy, tense, sad, calm) of the selected MIDI item, in the console.
-- Installed by `symbolic-ai hosts install reaper`; load it with Actions > New action > Load ReaScript.
local _, path = reaper.get_action_context()
local sai = dofile((path or ""):match("^(.*[/\\])") .. "symbolic-ai-common.lua")
sai.run("emotion", {})
