"""The synthetic road-sign showcase: signs drawn with OpenCV (``draw``), put into real photographs the way a
camera sees them (``scene``), written as a data set in a layout ``edgetl.data`` reads (``roadsigns``) and as a
drive-by video with per-frame ground truth (``video``). It builds on ``edgetl.data``; data never imports it."""
