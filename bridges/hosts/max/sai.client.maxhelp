{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100,
   100,
   900,
   600
  ],
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      10,
      800,
      22
     ],
     "text": "sai.client: run symbolic-ai tasks from Max. 1) start the daemon in a terminal: symbolic-ai serve  2) click the note list  3) click a run message. Results: lists (left), a dict when done (middle), errors and status (right)."
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      60,
      800,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "clear, note 57 90 0 1 1, note 59 90 1 1 1, note 60 90 2 1 1, note 62 90 3 1 1, note 64 90 4 1 1, note 65 90 5 1 1, note 68 90 6 1 1, note 69 90 7 2 1"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      100,
      60,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "run key"
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      100,
      100,
      80,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "run chords"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      100,
      280,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "run harmonize accompaniment block style folk"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      500,
      100,
      40,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "ping"
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      20,
      150,
      150,
      22
     ],
     "outlettype": [
      "",
      "",
      ""
     ],
     "text": "sai.client 9010 9101"
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      200,
      150,
      22
     ],
     "text": "print sai"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      200,
      200,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "dict.view"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      400,
      200,
      150,
      22
     ],
     "text": "print sai-status"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      230,
      800,
      22
     ],
     "text": "align a recording to its score (absolute paths in the daemon's folders; edit them): the time map comes out as lists (align time_map ID I AUDIO_SEC SCORE_BEAT), the score on the recording's timeline (a tempo map for a DAW) goes to the third path (- for none)."
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      260,
      800,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "file align /Users/me/Music/take.wav /Users/me/Music/score.mid /Users/me/Music/take.aligned.mid"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-2",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-4",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-6",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      0
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      1
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      2
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   }
  ]
 }
}
