-- A stub `reaper` table for running the symbolic-ai ReaScripts under plain Lua 5.4:
--   lua5.4 stub.lua SCRIPT FIXTURE
-- FIXTURE is a Lua file returning {notes = {{pitch, velocity, start_qn, end_qn, channel}, ...} or nil (no
-- item selected), project = DIR, recording = PATH or nil (a selected audio item at 2 s, for align)}. Every reaper.* call is printed as one line: CALL<TAB>name<TAB>args...
-- ExecProcess really runs its command (so curl reaches a real daemon). 120 qpm, 4/4, 960 PPQ, item at 0 s.
local script, fixture_path = arg[1], arg[2]
local fixture = dofile(fixture_path)
local PPQ = 960
local tracks = 1

local function record(name, ...)
  local parts = {"CALL", name}
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  io.write(table.concat(parts, "\t"):gsub("\n", "\\n"), "\n")
end

local item = {kind = "item"}
local take = {kind = "take"}
local audio_item, audio_take, source = {kind = "audioitem"}, {kind = "audiotake"}, {kind = "source"}
reaper = setmetatable({}, {__index = function(_, name) error("the stub has no reaper." .. name) end})
local R = {}
function R.get_action_context() return false, script end
function R.GetSelectedMediaItem(_, i)
  if (i or 0) == 0 then return fixture.notes and item or nil end
  return i == 1 and fixture.recording and audio_item or nil
end
function R.CountSelectedMediaItems() return (fixture.notes and 1 or 0) + (fixture.recording and 1 or 0) end
function R.GetActiveTake(it) return it == item and take or it == audio_item and audio_take or {kind = "newtake"} end
function R.TakeIsMIDI(tk) return tk ~= audio_take end
function R.GetMediaItemTake_Source(tk) return tk == audio_take and source or nil end
function R.GetMediaSourceFileName(src) return src == source and fixture.recording or "" end
function R.GetMediaItemInfo_Value(it, key)
  if key == "D_LENGTH" then return 8.0 end
  return (it == audio_item and key == "D_POSITION") and 2.0 or 0.0
end
function R.TimeMap2_timeToQN(_, t) return t * 2 end
function R.MIDI_CountEvts() return 1, #fixture.notes, 0, 0 end
function R.MIDI_GetNote(_, i)
  local n = fixture.notes[i + 1]
  return true, false, false, n[3] * PPQ, n[4] * PPQ, n[5] - 1, n[1], n[2]
end
function R.MIDI_GetProjQNFromPPQPos(_, ppq) return ppq / PPQ end
function R.MIDI_GetPPQPosFromProjQN(_, qn) return qn * PPQ end
function R.TimeMap_GetTimeSigAtTime() return 4, 4, 120.0 end
function R.GetProjectPath() return fixture.project end
function R.CountTracks() return tracks end
function R.InsertTrackAtIndex(i) tracks = tracks + 1 end
function R.GetTrack(_, i) return {kind = "track", index = i} end
function R.CreateNewMIDIItemInProj() return {kind = "newitem"} end
function R.ExecProcess(cmd, timeout_ms)
  if timeout_ms < 0 then os.execute(cmd .. " >/dev/null 2>&1 &"); return nil end
  local f = io.popen(cmd)
  local out = f:read("a")
  local _, _, code = f:close()
  return tostring(code) .. "\n" .. out
end
for _, name in ipairs({"GetSetMediaTrackInfo_String", "MIDI_InsertNote", "MIDI_InsertTextSysexEvt", "MIDI_Sort",
                       "InsertMedia", "SetTempoTimeSigMarker", "SetEditCurPos", "Undo_BeginBlock", "Undo_EndBlock", "UpdateArrange", "ShowConsoleMsg",
                       "ShowMessageBox"}) do
  R[name] = function() return true end
end
for name, fn in pairs(R) do
  rawset(reaper, name, function(...) record(name, ...); return fn(...) end)
end
dofile(script)
