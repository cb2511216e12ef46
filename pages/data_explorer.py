import streamlit as st

st.title("Data explorer")
st.info("Pick a dataset, see its classes, samples, channel statistics, the same images at lower resolutions, split strategies and a live augmentation preview.\n\nImport your own dataset as a zip of class folders.\n\n*Coming soon.*")
